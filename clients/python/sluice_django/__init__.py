"""Sluice for Django: async_task and friends, a warm worker command, an admin.

A replacement for Django-Q2 on Sluice (docs/django.md), with the queue in
Django's SQLite or PostgreSQL database. Standard library and Django only (and
Django's own driver, psycopg2, on PostgreSQL). Tasks run in `python3 manage.py
sluice_worker`, a warm worker that Sluice starts (SLUICE_WARM_DJANGO) and
feeds over docs/warm-protocol.md.
"""

from .api import (  # noqa: F401
    Chain,
    Task,
    async_chain,
    async_task,
    count_group,
    delete_group,
    fetch,
    fetch_group,
    queue_size,
    result,
    result_group,
    schedule,
)
from .schedules import Schedule  # noqa: F401

default_app_config = "sluice_django.apps.SluiceConfig"
