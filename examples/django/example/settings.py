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


def postgres(url):
    """Django's settings for a DATABASE_URL (postgres://user:password@host:port/name,
    or ?host=/socket/dir): no dependency beyond Django and psycopg2."""
    from urllib.parse import parse_qs, unquote, urlsplit

    u = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(u.query).items()}
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(u.path.lstrip("/")),
        "USER": unquote(u.username or ""),
        "PASSWORD": unquote(u.password or ""),
        "HOST": query.pop("host", u.hostname or ""),
        "PORT": query.pop("port", str(u.port or "")),
        "OPTIONS": query,  # sslmode and the like
        # Keep connections: a warm worker runs many tasks, and a new PostgreSQL
        # connection per task (Django's default, 0) costs a server process each.
        "CONN_MAX_AGE": 600,
    }


# On PostgreSQL (docs/django.md): DATABASE_URL names the database, as Fly.io
# and Heroku set it; sluice gets the same one from sluice_django. EXAMPLE_DB,
# when set, is then the database's name (the tests point workers at theirs).
if os.environ.get("DATABASE_URL"):
    DATABASES["default"] = postgres(os.environ["DATABASE_URL"])
    if os.environ.get("EXAMPLE_DB"):
        DATABASES["default"]["NAME"] = os.environ["EXAMPLE_DB"]
# The project's own database, which the tests replace with theirs.
DB_NAME = DATABASES["default"]["NAME"]
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
