"""The SLUICE setting, a dict that takes the place of Django-Q2's Q_CLUSTER.

    SLUICE = {
        "DATABASE": "default",   # Django database alias holding the queue (SQLite or PostgreSQL)
        "JOB": "django",         # the warm job: SLUICE_WARM_DJANGO runs sluice_worker
        "BINARY": "sluice",      # the sluice program, for resubmit, cancel and schedules
        "SYNC": False,           # True: async_task runs the function inline (tests)
        "QUEUE": None,           # default queue (Django-Q2's cluster name); None: "default"
        "TIMEOUT": None,         # default timeout in seconds; None: SLUICE_TIMEOUT
        "MAX_ATTEMPTS": None,    # default attempts; None: SLUICE_MAX_ATTEMPTS
    }
"""

import os

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connections

from . import postgres

DEFAULTS = {
    "DATABASE": "default",
    "JOB": "django",
    "BINARY": "sluice",
    "SYNC": False,
    "QUEUE": None,
    "TIMEOUT": None,
    "MAX_ATTEMPTS": None,
}


def get(name):
    """The value of SLUICE[name], or its default."""
    return getattr(settings, "SLUICE", {}).get(name, DEFAULTS[name])


def connection():
    """The Django connection of the database that holds the queue."""
    return connections[get("DATABASE")]


def vendor():
    """The queue database's engine: "sqlite" or "postgresql" (Django's vendor
    names); any other is a configuration error."""
    name = connection().vendor
    if name not in ("sqlite", "postgresql"):
        raise ImproperlyConfigured("SLUICE['DATABASE'] {!r} is a {} database: Sluice keeps its queue in SQLite "
                                   "or PostgreSQL".format(get("DATABASE"), name))
    return name


def raw_connection():
    """The sqlite3 connection under connection(), in Django's transaction."""
    conn = connection()
    conn.ensure_connection()
    return conn.connection


def db_path():
    """The queue file: the NAME of the queue's database (its test name in tests)."""
    return str(connection().settings_dict["NAME"])


def sluice_env():
    """The environment in which to run the sluice program on this queue: the
    same database as Django's connection (its test database in tests)."""
    env = dict(os.environ)
    if vendor() == "sqlite":
        env["SLUICE_DB"] = db_path()
        env["SLUICE_SHARED_DB"] = "true"
        return env
    settings_dict = connection().settings_dict
    env["SLUICE_DB"] = postgres.sluice_url(settings_dict)
    if settings_dict.get("PASSWORD"):
        env["PGPASSWORD"] = str(settings_dict["PASSWORD"])  # not in the URL, which ps and logs show
    return env
