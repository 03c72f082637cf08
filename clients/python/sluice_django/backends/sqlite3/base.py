"""Django's SQLite backend, with write-ready transactions.

Django 3.2 opens atomic() blocks with a deferred BEGIN: a block that reads and
then writes while another connection writes (Sluice's worker, another request)
fails at once with "database is locked", whatever the timeout, because SQLite
cannot wait for a lock a reader wants to upgrade. BEGIN IMMEDIATE takes the
write lock up front and waits for it (up to OPTIONS["timeout"] seconds).
Django 5.1 says the same with OPTIONS={"transaction_mode": "IMMEDIATE"}.

    DATABASES = {"default": {"ENGINE": "sluice_django.backends.sqlite3", ...}}
"""

from django.db.backends.sqlite3 import base


class DatabaseWrapper(base.DatabaseWrapper):
    def _start_transaction_under_autocommit(self):
        self.cursor().execute("BEGIN IMMEDIATE")
