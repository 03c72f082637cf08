"""One task in one process: `python3 manage.py sluice_task` as an exec job.

    SLUICE_EXEC_DJANGO='["python3","manage.py","sluice_task"]'

The payload arrives on stdin; the result (JSON) goes to stdout; a failure
exits 1 with the traceback on stderr. Slower than sluice_worker by Django's
start-up per task; for jobs that must not share a process.
"""

import json
import os
import sys

from django.core.management.base import BaseCommand

from sluice_django.api import run_payload


class Command(BaseCommand):
    help = "Run one Sluice task from the payload on stdin (an exec job)."

    def handle(self, *args, **options):
        payload = json.load(sys.stdin)
        out = os.fdopen(os.dup(1), "w")
        os.dup2(2, 1)
        sys.stdout = sys.stderr
        ok, value = run_payload(payload)
        if not ok:
            sys.stderr.write(value)
            sys.exit(1)
        out.write(json.dumps(value))
        out.flush()
