"""The warm worker: `python3 manage.py sluice_worker`, started by Sluice.

    SLUICE_WARM_DJANGO='["python3","manage.py","sluice_worker"]' sluice run

It speaks docs/warm-protocol.md on stdin/stdout: after Django is set up it
writes the handshake, then for each request imports the payload's dotted path,
calls it with the payload's args and kwargs, and replies with the result
(JSON) or the end of the traceback. The task's own prints go to stderr.
"""

import json
import os
import sys

from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections

from sluice_django.api import run_payload

PROTOCOL = 1


class Command(BaseCommand):
    help = "Serve Sluice tasks over the warm worker protocol (started by sluice, not by hand)."

    def handle(self, *args, **options):
        if os.environ.get("SLUICE_WARM_PROTOCOL") != str(PROTOCOL):
            raise CommandError("sluice_worker is started by sluice: set SLUICE_WARM_DJANGO='[\"python3\",\"manage.py\",\"sluice_worker\"]'")
        # Keep the protocol's stdout to ourselves; everything else printing
        # (tasks, libraries, C code) goes to stderr.
        proto = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
        os.dup2(2, 1)
        sys.stdout = sys.stderr
        proto.write(json.dumps({"sluice": PROTOCOL}) + "\n")
        for line in sys.stdin:
            req = json.loads(line)
            close_old_connections()
            payload = req.get("payload") or {}
            if not isinstance(payload, dict) or "func" not in payload:
                reply = {"ok": False, "permanent": True, "error": "payload has no func: {:.200}".format(line)}
            else:
                ok, value = run_payload(payload)
                reply = {"ok": True, "result": value} if ok else {"ok": False, "error": value}
            reply["id"] = req["id"]
            proto.write(json.dumps(reply) + "\n")
            close_old_connections()
