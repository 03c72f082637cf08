"""The example under Django-Q (Debian's python3-django-q 1.3.9), the old app's
settings, for bench.sh's side-by-side measurement only."""

from .settings import *  # noqa: F401,F403
from .settings import INSTALLED_APPS

INSTALLED_APPS = INSTALLED_APPS + ["django_q"]
Q_CLUSTER = {"name": "accounts", "workers": 1, "timeout": 120, "retry": 180, "orm": "default", "save_limit": 0}
