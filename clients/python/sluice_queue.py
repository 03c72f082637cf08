"""Enqueue Sluice tasks and read their results from Python.

Standard library only (sqlite3, json, time). It speaks version 1 of Sluice's
SQL contract (docs/sql-contract.md): every connection sets a busy timeout,
checks that the file is in WAL mode and that the database honours the
contract, then runs one of the contract's statements.

    import sluice_queue

    task_id = sluice_queue.enqueue("/var/lib/sluice/sluice.db", "send_mail", {"to": "a@example.com"})
    task = sluice_queue.wait("/var/lib/sluice/sluice.db", task_id, timeout=30)
    print(task["state"], task["result"])

Copy this file into your project; it has no dependencies.
"""

import datetime
import json
import sqlite3
import time

__all__ = [
    "CONTRACT_VERSION",
    "FINAL_STATES",
    "ContractError",
    "TaskNotFound",
    "connect",
    "enqueue",
    "enqueue_params",
    "fetch",
    "wait",
]

CONTRACT_VERSION = 1

FINAL_STATES = frozenset({"succeeded", "failed", "cancelled"})

BUSY_TIMEOUT_MS = 5000

# The statements below are docs/sql-contract.md's, word for word; a Go test
# (queue/contract_test.go) checks that they still match it.

CONNECT_SQL = (
    """PRAGMA busy_timeout = 5000""",
    """PRAGMA journal_mode = WAL""",
    """PRAGMA synchronous = FULL""",
)

VERSION_SQL = """SELECT version FROM sluice_contract WHERE version = 1"""

ENQUEUE_SQL = """
INSERT INTO tasks (job, payload, queue, priority, run_at, created_at, max_attempts, timeout_ms, task_group)
VALUES (
    :job,
    coalesce(:payload, '{}'),
    coalesce(:queue, 'default'),
    coalesce(:priority, 0),
    coalesce(:run_at, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)),
    CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER),
    :max_attempts,
    :timeout_ms,
    :task_group
)"""

# enqueue with follow_ups (chains and hooks): needs migration 0008.
ENQUEUE_FOLLOW_UPS_SQL = """
INSERT INTO tasks (job, payload, queue, priority, run_at, created_at, max_attempts, timeout_ms, task_group, follow_ups)
VALUES (
    :job,
    coalesce(:payload, '{}'),
    coalesce(:queue, 'default'),
    coalesce(:priority, 0),
    coalesce(:run_at, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)),
    CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER),
    :max_attempts,
    :timeout_ms,
    :task_group,
    :follow_ups
)"""

GET_SQL = """
SELECT id, job, payload, queue, priority, state, attempt, max_attempts, timeout_ms, task_group,
       run_at, created_at, started_at, finished_at, duration_ms, result, error, history
FROM sluice_tasks_v1
WHERE id = :id"""


class ContractError(RuntimeError):
    """The database is not one this module can use (not created by Sluice, or
    a Sluice too old or too new for contract version 1, or not in WAL mode)."""


class TaskNotFound(LookupError):
    """No task has the id asked for."""


def connect(path):
    """Open the queue at path for the contract's statements.

    The connection is in autocommit mode (each statement is its own short
    transaction), waits up to 5 s for the worker's locks, and has been checked
    for WAL mode and contract version 1. Close it when done, or use it in a
    with-block and close it after.
    """
    try:
        conn = sqlite3.connect(
            "file:{}?mode=rw".format(_quote_path(path)),
            uri=True,
            timeout=BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,
        )
    except sqlite3.OperationalError as e:
        raise ContractError(
            "open {}: {} (let Sluice create the queue first: run 'sluice drain' once with SLUICE_DB={})".format(
                path, e, path
            )
        ) from e
    try:
        for stmt in CONNECT_SQL:
            row = conn.execute(stmt).fetchone()
            if stmt.startswith("PRAGMA journal_mode") and (row is None or row[0].lower() != "wal"):
                raise ContractError(
                    "{}: journal mode is {!r}, want 'wal' (is the file on a network filesystem?)".format(
                        path, row and row[0]
                    )
                )
        try:
            row = conn.execute(VERSION_SQL).fetchone()
        except sqlite3.OperationalError as e:
            raise ContractError(
                "{}: no Sluice contract in this database ({}); was it created by Sluice?".format(path, e)
            ) from e
        if row is None:
            raise ContractError(
                "{}: the database does not honour Sluice SQL contract version {}".format(path, CONTRACT_VERSION)
            )
    except BaseException:
        conn.close()
        raise
    return conn


# The worker fails a task whose payload is larger, without running it
# (queue.MaxPayload in the Go code).
MAX_PAYLOAD = 256 << 10


def enqueue(
    path,
    job,
    payload=None,
    *,
    queue=None,
    priority=None,
    run_at=None,
    delay=None,
    max_attempts=None,
    timeout=None,
    group=None,
    then=None,
    conn=None,
):
    """Add a task for job and return its id.

    payload is any JSON-serializable value (None means {}). Options left as
    None take the worker's defaults:

    queue         the queue name (default "default")
    priority      an int >= 0; higher runs first (default 0)
    run_at        a timezone-aware datetime: run no earlier than this
    delay         seconds from now: run no earlier than this (not with run_at)
    max_attempts  attempts before the task fails for good (default SLUICE_MAX_ATTEMPTS)
    timeout       hard timeout of each attempt, in seconds (default SLUICE_TIMEOUT)
    group         a label to follow related tasks together
    then          follow-up task specs, a list of dicts (docs/sql-contract.md,
                  "Follow-up tasks"): {"job", "payload", "queue", "priority",
                  "max_attempts", "timeout_ms", "group", "when", "then"}
    conn          an open connection from connect(), to reuse it
    """
    params = enqueue_params(job, payload, queue=queue, priority=priority, run_at=run_at, delay=delay,
                            max_attempts=max_attempts, timeout=timeout, group=group, then=then)
    sql = ENQUEUE_FOLLOW_UPS_SQL if "follow_ups" in params else ENQUEUE_SQL
    with _connection(path, conn) as c:
        return c.execute(sql, params).lastrowid


def enqueue_params(job, payload=None, *, queue=None, priority=None, run_at=None, delay=None, max_attempts=None,
                   timeout=None, group=None, then=None):
    """The checked named parameters of the enqueue statement, as enqueue
    takes them (follow_ups only when then is given): for a caller that runs
    the statement itself, such as sluice_django on PostgreSQL."""
    if not isinstance(job, str) or not job.strip():
        raise ValueError("job name is empty")
    if priority is not None and (not isinstance(priority, int) or priority < 0):
        raise ValueError("priority {!r} must be an int >= 0".format(priority))
    if max_attempts is not None and (not isinstance(max_attempts, int) or max_attempts < 1):
        raise ValueError("max_attempts {!r} must be an int >= 1".format(max_attempts))
    if timeout is not None and not timeout >= 0.001:
        raise ValueError("timeout {!r} must be at least a millisecond (in seconds)".format(timeout))
    if run_at is not None and delay is not None:
        raise ValueError("run_at and delay cannot be used together")
    if delay is not None and not delay >= 0:
        raise ValueError("delay {!r} must not be negative".format(delay))

    run_at_ms = None
    if run_at is not None:
        if not isinstance(run_at, datetime.datetime) or run_at.tzinfo is None:
            raise ValueError("run_at must be a timezone-aware datetime")
        run_at_ms = int(run_at.timestamp() * 1000)
    elif delay is not None:
        run_at_ms = int((time.time() + delay) * 1000)

    encoded = json.dumps({} if payload is None else payload, separators=(",", ":"))
    size = len(encoded.encode("utf-8"))
    if size > MAX_PAYLOAD:
        raise ValueError(
            "payload is {} bytes, over the limit of {} (keep large data elsewhere and pass a reference)".format(
                size, MAX_PAYLOAD))

    params = {
        "job": job,
        "payload": encoded,
        "queue": queue,
        "priority": priority,
        "run_at": run_at_ms,
        "max_attempts": max_attempts,
        "timeout_ms": None if timeout is None else int(round(timeout * 1000)),
        "task_group": group,
    }
    if then:
        _check_follow_ups(then)
        params["follow_ups"] = json.dumps(then, separators=(",", ":"))
    return params


def _check_follow_ups(specs):
    """Refuse follow-up specs Sluice would skip, so mistakes show at enqueue."""
    if not isinstance(specs, list):
        raise ValueError("then must be a list of follow-up specs")
    for spec in specs:
        if not isinstance(spec, dict) or not isinstance(spec.get("job"), str) or not spec["job"].strip():
            raise ValueError("follow-up {!r}: needs a non-empty job".format(spec))
        when = spec.get("when", "success")
        if when not in ("success", "done"):
            raise ValueError("follow-up {!r}: when must be 'success' or 'done'".format(spec))
        if when == "done" and not isinstance(spec.get("payload", {}), dict):
            raise ValueError("follow-up {!r}: a hook's payload must be a dict".format(spec))
        _check_follow_ups(spec.get("then", []))


def fetch(path, task_id, *, conn=None):
    """Return task task_id as a dict, or None if there is no such task.

    Keys are the columns of sluice_tasks_v1 (id, job, payload, queue,
    priority, state, attempt, max_attempts, timeout_ms, task_group, run_at,
    created_at, started_at, finished_at, duration_ms, result, error, history).
    Times are Unix milliseconds; history is decoded from JSON; payload and
    result are the stored text (json.loads them when the job returns JSON).
    """
    with _connection(path, conn) as c:
        cur = c.execute(GET_SQL, {"id": task_id})
        row = cur.fetchone()
        if row is None:
            return None
        task = dict(zip((d[0] for d in cur.description), row))
    task["history"] = json.loads(task["history"])
    return task


def wait(path, task_id, timeout=30.0, *, interval=0.1, conn=None):
    """Poll task task_id until it is succeeded, failed or cancelled; return it.

    Raises TaskNotFound if there is no such task, and TimeoutError if it is
    not finished within timeout seconds. A worker must be draining the queue.
    """
    deadline = time.monotonic() + timeout
    with _connection(path, conn) as c:
        while True:
            task = fetch(path, task_id, conn=c)
            if task is None:
                raise TaskNotFound("task {} not found in {}".format(task_id, path))
            if task["state"] in FINAL_STATES:
                return task
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(
                    "task {} is still {} after {}s".format(task_id, task["state"], timeout)
                )
            time.sleep(min(interval, left))


class _connection:
    """Use conn if given, else open one for the block and close it after."""

    def __init__(self, path, conn):
        self._path, self._given, self._conn = path, conn, conn

    def __enter__(self):
        if self._conn is None:
            self._conn = connect(self._path)
        return self._conn

    def __exit__(self, *exc):
        if self._given is None:
            self._conn.close()
        return False


def _quote_path(path):
    # A URI filename: escape what would end the path or start the query.
    return str(path).replace("%", "%25").replace("?", "%3f").replace("#", "%23")
