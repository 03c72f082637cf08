"""The example's tests: run by Django's test runner, from django_test.go.

LiveSluiceTests start a real `sluice run` (EXAMPLE_SLUICE_BIN) with warm workers on
the test database; SyncTests need no sluice at all. The same tests run on
SQLite and, with DATABASE_URL set (TestDjangoExamplePostgres), on PostgreSQL.
"""

import datetime
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from unittest import mock

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, connections, transaction
from django.test import Client, SimpleTestCase, TestCase, TransactionTestCase, override_settings

from sluice_django import (Chain, Schedule, async_chain, async_task, count_group, delete_group, fetch, fetch_group,
                           queue_size, result, schedule)
from sluice_django import conf, postgres
from sluice_django.api import sluice
from sluice_django.models import Failure

from .models import Note

MANAGE = str(Path(__file__).resolve().parent.parent / "manage.py")
WAIT = 30_000  # ms: fetch's wait, as in Django-Q2


def migrated():
    """How many of sluice's migrations the test database has."""
    with connection.cursor() as c:
        if connection.vendor == "sqlite":
            c.execute("PRAGMA user_version")
            return c.fetchone()[0]
        c.execute("SELECT to_regclass('sluice_migrations') IS NOT NULL")
        if not c.fetchone()[0]:
            return 0
        c.execute("SELECT coalesce(max(version), 0) FROM sluice_migrations")
        return c.fetchone()[0]


def tasks_count():
    with connection.cursor() as c:
        c.execute("SELECT count(*) FROM sluice_tasks_v1")
        return c.fetchone()[0]


class LiveSluiceTests(TransactionTestCase):
    """async_task through a real `sluice run` serving the test database."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        binary = os.environ.get("EXAMPLE_SLUICE_BIN")
        if not binary:
            raise RuntimeError("EXAMPLE_SLUICE_BIN must name a built sluice binary (django_test.go sets it)")
        # sluice_env gives sluice the test database (SLUICE_DB, and PGPASSWORD
        # on PostgreSQL); EXAMPLE_DB points the warm workers' Django at it.
        env = dict(conf.sluice_env(), EXAMPLE_DB=connection.settings_dict["NAME"],
                   SLUICE_WARM_DJANGO=json.dumps([sys.executable, MANAGE, "sluice_worker"]),
                   SLUICE_WORKERS="1", SLUICE_POLL="20ms", SLUICE_KILL_GRACE="1s",
                   SLUICE_BACKOFF_BASE="100ms", SLUICE_LOG_FORMAT="text", SLUICE_LOG_LEVEL="warn",
                   SLUICE_SHUTDOWN_GRACE="2s")
        cls.log = tempfile.TemporaryFile()
        cls.sluice = subprocess.Popen([binary, "run"], env=env, stdout=cls.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        # sluice run migrates the test database at start, one migration per
        # transaction: wait for the last one (enqueues may name its columns).
        store = "queue" if connection.vendor == "sqlite" else "pgqueue"
        migrations = len(list((Path(MANAGE).parent.parent.parent / store / "migrations").glob("*.sql")))
        while migrated() < migrations:
            if cls.sluice.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("sluice run did not start: " + cls.output())
            time.sleep(0.02)

    @classmethod
    def tearDownClass(cls):
        cls.sluice.terminate()
        cls.sluice.wait(timeout=30)
        cls.log.close()
        super().tearDownClass()

    @classmethod
    def output(cls):
        cls.log.seek(0)
        return cls.log.read().decode(errors="replace")

    def test_echo_test_through_warm_workers(self):
        task = fetch(async_task("accounts.tasks.echo_test", "hi"), wait=WAIT)
        self.assertIsNotNone(task, self.output())
        self.assertTrue(task.success, task.error)
        self.assertEqual(task.result, "hi")
        self.assertEqual(task.func, "accounts.tasks.echo_test")
        # Warm: the next tasks run in the same process.
        pids = {result(async_task("accounts.tasks.pid"), wait=WAIT) for _ in range(3)}
        self.assertEqual(len(pids), 1, pids)

    def test_failure_in_admin_then_resubmit(self):
        task_id = async_task("accounts.tasks.always_fails", "nope", q_options={"max_attempts": 1})
        task = fetch(task_id, wait=WAIT)
        self.assertFalse(task.success)
        self.assertIn("ValueError: nope", task.error)
        self.assertEqual(task.attempt_count, 1)
        self.assertIsNotNone(task.time_taken)

        User.objects.create_superuser("admin", "admin@example.com", "pw")
        self.client.login(username="admin", password="pw")
        page = self.client.get("/admin/sluice_django/failure/")
        self.assertEqual(page.status_code, 200)
        html = page.content.decode()
        self.assertIn("accounts.tasks.always_fails", html)
        self.assertIn('<td class="field-attempt">1</td>', html)
        self.assertIn('<td class="field-duration">', html)
        self.assertIn('<td class="field-started nowrap">', html)
        self.assertIn('<td class="field-stopped nowrap">', html)
        self.assertIn("ValueError: nope", html)
        # The other lists, and a search, over the contract's view on this engine.
        for page in ("success", "queued", "scheduled"):
            self.assertEqual(self.client.get("/admin/sluice_django/{}/".format(page)).status_code, 200, page)
        found = self.client.get("/admin/sluice_django/failure/", {"q": "always_fails"})
        self.assertIn("ValueError: nope", found.content.decode())
        # history is JSON text on either engine (jsonb on PostgreSQL).
        row = Failure.objects.get(id=task_id)
        self.assertEqual([h["outcome"] for h in json.loads(row.history)], ["failed"])

        resp = self.client.post("/admin/sluice_django/failure/",
                                {"action": "resubmit", "_selected_action": [task_id]}, follow=True)
        self.assertIn("retry: {}".format(task_id), [str(m) for m in resp.context["messages"]])
        again = fetch(task_id, wait=WAIT)
        runs = [h for h in again.history if h.get("outcome") == "failed"]
        self.assertEqual(len(runs), 2, "resubmit did not run the task again: {}".format(again.history))
        self.assertFalse(again.success)

    def test_timeout_kills_and_replaces_the_warm_process(self):
        before = result(async_task("accounts.tasks.pid"), wait=WAIT)
        task = fetch(async_task("accounts.tasks.sleep", 600, timeout=1, max_attempts=1), wait=WAIT)
        self.assertFalse(task.success)
        self.assertIn("timeout", task.error)
        after = result(async_task("accounts.tasks.pid"), wait=WAIT)
        self.assertIsNotNone(after)
        self.assertNotEqual(before, after, "the timed-out process served again")
        with self.assertRaises(ProcessLookupError):
            os.kill(before, 0)

    def test_unique(self):
        # Due in an hour, the first task holds its key however slowly the
        # second enqueue comes (a short task could finish in between).
        first = async_task("accounts.tasks.echo_test", "first", unique="report-1", delay=3600)
        again = async_task("accounts.tasks.echo_test", "again", unique="report-1")
        self.assertEqual(first, again, "a second task with a held key was added")
        sluice("cancel", str(first))
        self.assertEqual(fetch(first).state, "cancelled")
        # A final task holds no key: the next one is a new task, and runs.
        last = async_task("accounts.tasks.echo_test", "last", unique="report-1")
        self.assertNotEqual(last, first)
        self.assertEqual(result(last, wait=WAIT), "last")

    def wait_note(self, prefix):
        deadline = time.monotonic() + WAIT / 1000
        while time.monotonic() < deadline:
            notes = list(Note.objects.filter(text__startswith=prefix).values_list("text", flat=True))
            if notes:
                return notes
            time.sleep(0.05)
        self.fail("no note {!r}: {}".format(prefix, self.output()))

    def test_hook_after_success_and_final_failure(self):
        ok = async_task("accounts.tasks.echo_test", "hooked", hook="accounts.tasks.record_hook")
        self.assertEqual(self.wait_note("hook {} ".format(ok)), ["hook {} succeeded hooked".format(ok)])
        bad = async_task("accounts.tasks.always_fails", max_attempts=2, hook="accounts.tasks.record_hook")
        self.assertEqual(self.wait_note("hook {} ".format(bad)), ["hook {} failed None".format(bad)])
        self.assertEqual(len(fetch(bad).history), 2, "the hook ran before the last attempt")

    def test_chain_runs_in_order_and_stops_at_a_failure(self):
        group = async_chain([("accounts.tasks.echo_test", ["one"]), ("accounts.tasks.echo_test", ["two"]),
                             ("accounts.tasks.echo_test", ["three"], {"hook": "accounts.tasks.record_hook"})])
        tasks = fetch_group(group, count=3, wait=WAIT)
        self.assertEqual([t.result for t in tasks], ["one", "two", "three"])
        self.assertEqual(len(self.wait_note("hook {} ".format(tasks[2].id))), 1)

        chain = Chain(q_options={"max_attempts": 1})
        chain.append("accounts.tasks.echo_test", "first")
        chain.append("accounts.tasks.always_fails", "stop")
        self.assertEqual(chain.append("accounts.tasks.echo_test", "never"), 3)
        group = chain.run()
        tasks = fetch_group(group, count=2, wait=WAIT)
        self.assertEqual([t.state for t in tasks], ["succeeded", "failed"])
        # The failed step's outcome and any next step share one transaction:
        # once it is failed, the group is final.
        self.assertEqual(len(fetch_group(group)), 2)
        with connection.cursor() as c:
            c.execute("SELECT count(*) FROM sluice_tasks_v1 WHERE task_group = %s", [group])
            self.assertEqual(c.fetchone()[0], 2)

    def test_delete_group(self):
        for group in ("keep-tasks", "drop-tasks"):
            for n in range(2):
                async_task("accounts.tasks.echo_test", n, group=group)
            self.assertEqual(len(fetch_group(group, count=2, wait=WAIT)), 2)
        self.assertEqual(delete_group("keep-tasks"), 2)
        self.assertEqual(count_group("keep-tasks"), 0)
        self.assertEqual(delete_group("drop-tasks", tasks=True), 2)
        with connection.cursor() as c:
            c.execute("SELECT count(*) FROM sluice_tasks_v1 WHERE result IN ('0', '1') AND task_group IS NULL")
            kept = c.fetchone()[0]
        self.assertGreaterEqual(kept, 2, "delete_group without tasks=True deleted the tasks")
        self.assertEqual(count_group("drop-tasks"), 0)

    def test_schedule(self):
        # Due tomorrow: it must not add tasks while the other tests count them.
        tomorrow = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
        name = schedule("accounts.tasks.echo_test", "tick", name="tick", schedule_type=Schedule.MINUTES, minutes=5,
                        next_run=tomorrow)
        listing = sluice("schedule", "list")
        self.assertIn("tick", listing)
        self.assertIn("minutes", listing)
        sluice("schedule", "rm", name)

    def test_rolled_back_view_enqueues_nothing(self):
        before = tasks_count()
        resp = self.client.post("/signup/", {"fail": "1"})
        self.assertEqual(resp.status_code, 409)
        self.assertEqual(tasks_count(), before)
        self.assertFalse(Note.objects.exists())

        resp = self.client.post("/signup/", {"text": "ok"})
        self.assertEqual(resp.status_code, 200)
        body = resp.json()
        self.assertEqual(tasks_count(), before + 1)
        self.assertEqual(result(body["task"], wait=WAIT), "welcome {}".format(body["note"]))
        self.assertEqual(count_group("signup"), 1)
        self.assertEqual(queue_size(), 0)


    def test_views_and_sluice_write_at_once_without_locked_errors(self):
        """2,000 tasks drain (half of them writing Notes through Django) while
        two threads of views read, write and enqueue in atomic() blocks."""
        with transaction.atomic():
            ids = [async_task("accounts.tasks.add_note" if i % 2 else "accounts.tasks.echo_test", "t{}".format(i))
                   for i in range(2000)]
        errors, statuses = [], []

        def views():
            client = Client()
            try:
                for _ in range(100):
                    resp = client.post("/bump/")
                    statuses.append(resp.status_code)
                    if resp.status_code != 200:
                        errors.append(resp.content.decode())
            finally:
                connections.close_all()

        threads = [threading.Thread(target=views) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [], "views failed while sluice drained")
        self.assertEqual(len(statuses), 200)
        last = fetch(ids[-1], wait=120_000)
        self.assertIsNotNone(last, "the drain did not finish")
        errors = "group_concat(DISTINCT error)" if connection.vendor == "sqlite" else "string_agg(DISTINCT error, ',')"

        def unfinished():
            with connection.cursor() as c:
                c.execute("SELECT count(*), {} FROM sluice_tasks_v1 WHERE id BETWEEN %s AND %s "
                          "AND state != 'succeeded'".format(errors), [ids[0], ids[-1]])
                return c.fetchone()

        left, errs = unfinished()
        deadline = time.monotonic() + 60
        while left and time.monotonic() < deadline:
            time.sleep(0.1)
            left, errs = unfinished()
        self.assertEqual(left, 0, errs)
        self.assertNotIn("locked", self.output())


def real_notes(text):
    """Notes with text in the project's own database (not the test one)."""
    query = "SELECT count(*) FROM accounts_note WHERE text = %s"
    if connection.vendor == "sqlite":
        if not os.path.exists(settings.DB_NAME):
            return 0
        real = sqlite3.connect(settings.DB_NAME)
        try:
            return real.execute(query.replace("%s", "?"), [text]).fetchone()[0]
        except sqlite3.OperationalError:  # no such table yet
            return 0
        finally:
            real.close()
    import psycopg2

    s = connection.settings_dict
    real = psycopg2.connect(dbname=settings.DB_NAME, user=s["USER"] or None, password=s["PASSWORD"] or None,
                            host=s["HOST"] or None, port=s["PORT"] or None)
    try:
        with real.cursor() as c:
            c.execute("SELECT to_regclass('accounts_note') IS NOT NULL")
            if not c.fetchone()[0]:
                return 0
            c.execute(query, [text])
            return c.fetchone()[0]
    finally:
        real.close()


@override_settings(SLUICE={**settings.SLUICE, "SYNC": True})
class SyncTests(TestCase):
    """SYNC runs the function inline, in the test's database."""

    def test_runs_inline_in_the_test_database(self):
        task_id = async_task("accounts.tasks.add_note", "from a sync task")
        note_id = result(task_id)
        self.assertEqual(Note.objects.get(id=note_id).text, "from a sync task")
        # The project's own database (if there is one yet) did not get it.
        self.assertEqual(real_notes("from a sync task"), 0)

    def test_failure_is_a_failed_task(self):
        task = fetch(async_task("accounts.tasks.always_fails", "inline"))
        self.assertFalse(task.success)
        self.assertIn("ValueError: inline", task.error)

    def test_arguments_must_be_json(self):
        with self.assertRaises(TypeError):
            async_task("accounts.tasks.echo_test", object())

    def test_chain_and_hook_inline(self):
        async_chain([("accounts.tasks.add_note", ["chain a"]), ("accounts.tasks.always_fails",),
                     ("accounts.tasks.add_note", ["chain never"])])
        self.assertEqual(list(Note.objects.filter(text__startswith="chain").values_list("text", flat=True)),
                         ["chain a"])
        task_id = async_task("accounts.tasks.always_fails", hook="accounts.tasks.record_hook")
        self.assertTrue(Note.objects.filter(text="hook {} failed None".format(task_id)).exists())

    def test_callable_func(self):
        from .tasks import echo_test

        self.assertEqual(result(async_task(echo_test, [1, 2])), [1, 2])


class StubConnection:
    def __init__(self, vendor, **settings_dict):
        self.vendor, self.settings_dict = vendor, settings_dict


class SluiceEnvTests(SimpleTestCase):
    """What the sluice program gets for a Django database (no database needed)."""

    def test_postgres_urls(self):
        for want, settings_dict in [
            ("postgres://app@db.internal:6432/shop?sslmode=require",
             {"NAME": "shop", "USER": "app", "PASSWORD": "secret", "HOST": "db.internal", "PORT": 6432,
              "OPTIONS": {"sslmode": "require", "isolation_level": 1}}),
            ("postgres://app@/shop?host=%2Fvar%2Frun%2Fpostgresql&port=5433",
             {"NAME": "shop", "USER": "app", "HOST": "/var/run/postgresql", "PORT": "5433"}),
            ("postgres:///shop", {"NAME": "shop", "HOST": "", "PORT": ""}),  # PGHOST, PGUSER... fill in
            ("postgres://a%40b@[::1]:5432/my%20db?options=-c%20search_path%3Dsluice",
             {"NAME": "my db", "USER": "a@b", "HOST": "::1", "PORT": "5432",
              "OPTIONS": {"options": "-c search_path=sluice"}}),
            ("postgres://app@db/postgres", {"NAME": None, "USER": "app", "HOST": "db"}),
        ]:
            self.assertEqual(postgres.sluice_url(settings_dict), want)

    def test_password_goes_in_pgpassword(self):
        stub = StubConnection("postgresql", NAME="shop", USER="app", PASSWORD="s3cret/:@", HOST="db", PORT="")
        with mock.patch.object(conf, "connection", lambda: stub):
            env = conf.sluice_env()
        self.assertEqual(env["SLUICE_DB"], "postgres://app@db/shop")
        self.assertEqual(env["PGPASSWORD"], "s3cret/:@")
        self.assertNotIn("SLUICE_SHARED_DB", env)

    def test_sqlite_keeps_its_file(self):
        stub = StubConnection("sqlite", NAME="/srv/app/db.sqlite3")
        with mock.patch.object(conf, "connection", lambda: stub):
            env = conf.sluice_env()
        self.assertEqual((env["SLUICE_DB"], env["SLUICE_SHARED_DB"]), ("/srv/app/db.sqlite3", "true"))

    def test_other_engines_are_refused(self):
        with mock.patch.object(conf, "connection", lambda: StubConnection("mysql", NAME="shop")):
            with self.assertRaisesRegex(ImproperlyConfigured, "SQLite or PostgreSQL"):
                conf.sluice_env()
