#!/usr/bin/env python3
"""Django's command-line utility for the example project."""
import os
import sys
from pathlib import Path

# The example uses the app from this repository; a real project copies
# clients/python/sluice_django and sluice_queue.py into itself instead.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "clients" / "python"))


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
