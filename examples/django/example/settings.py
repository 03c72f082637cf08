"""Settings of the example project: the app Django-Q2 ran, moved to Sluice."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "sluice_django",  # was: "django_q"
    "accounts",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "example.urls"
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]

# The queue lives in Django's own file (sluice run with SLUICE_SHARED_DB=true),
# so async_task inside atomic() commits or rolls back with the view's writes.
# EXAMPLE_DB points the worker processes at the same file as the web process
# (the tests point both at the test database).
DB_FILE = os.environ.get("EXAMPLE_DB", str(BASE_DIR / "db.sqlite3"))
DATABASES = {
    "default": {
        # Django 3.2's backend with BEGIN IMMEDIATE: no "database is locked"
        # from atomic() blocks while sluice writes to the same file.
        "ENGINE": os.environ.get("EXAMPLE_DB_ENGINE", "sluice_django.backends.sqlite3"),
        "NAME": DB_FILE,
        "OPTIONS": {"timeout": 20},  # seconds to wait for the write lock
        "TEST": {"NAME": os.environ.get("EXAMPLE_TEST_DB", str(BASE_DIR / "test_db.sqlite3"))},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "/static/"

# Was:
# Q_CLUSTER = {"name": "accounts", "workers": 1, "timeout": 120, "retry": 180, "orm": "default"}
# Now the worker side lives in sluice's environment (see docs/django.md):
#   SLUICE_DB=db.sqlite3 SLUICE_SHARED_DB=true SLUICE_WORKERS=1 SLUICE_TIMEOUT=120s SLUICE_RETRY=180s
#   SLUICE_WARM_DJANGO='["python3","manage.py","sluice_worker"]' sluice run
# and the Django side here:
SLUICE = {
    "DATABASE": "default",  # the queue's database alias (Q_CLUSTER's orm)
    "JOB": "django",  # SLUICE_WARM_DJANGO serves it
    "BINARY": os.environ.get("EXAMPLE_SLUICE_BIN", "sluice"),  # for resubmit, cancel, schedule
    "SYNC": False,  # tests: override_settings(SLUICE={..., "SYNC": True})
}
