"""Django-Q2's task functions on Sluice (docs/django.md maps each one)."""

import datetime
import json
import subprocess
import time
import traceback
import uuid

from django.utils.module_loading import import_string

import sluice_queue

from . import conf, postgres
from .schedules import SLUICE_TYPES

# Options async_task takes out of its keyword arguments, as Django-Q2 does;
# pass them in q_options when the function has a parameter of the same name.
OPTIONS = frozenset({
    "timeout", "group", "task_name", "cluster", "queue", "q_options", "sync", "hook",
    "delay", "run_at", "priority", "unique", "max_attempts", "save", "ack_failure",
})

# How much of a traceback becomes a failed attempt's error (the end of it).
ERROR_TAIL = 2000

# Results of tasks run in SYNC mode, by id: they never reach the queue.
_sync = {}


def func_path(func):
    """The dotted path of func (a callable or a dotted path), checked to import."""
    if callable(func):
        path = "{}.{}".format(func.__module__, func.__qualname__)
        if "<" in path:
            raise ValueError("{!r} has no importable dotted path: pass a module-level function".format(func))
    else:
        path = str(func)
    import_string(path)  # fail at enqueue, not in the worker
    return path


def async_task(func, *args, **kwargs):
    """Enqueue func(*args, **kwargs) and return the task's id.

    func is a dotted path ("accounts.tasks.echo_test") or a module-level
    function. Arguments and the result must be JSON (no pickle). Options, as
    keyword arguments or in q_options: timeout (seconds), group, task_name,
    cluster or queue, delay (seconds), run_at (aware datetime), priority
    (int >= 0, higher first), unique (a key: no second task while one with the
    key is queued or running), max_attempts, sync, hook (a function or dotted
    path called with the finished Task whatever its outcome: Sluice enqueues
    it in the transaction that records the outcome). Inside an atomic() block
    on the queue's database the task is enqueued in that transaction.
    """
    payload, opts = _prepare(func, args, kwargs)
    return _enqueue(payload, opts, _hooks(opts))


def _prepare(func, args, kwargs):
    """The payload of func(*args, **kwargs) and the options taken out of kwargs."""
    kwargs = dict(kwargs)
    opts = dict(kwargs.pop("q_options", {}) or {})
    for name in list(kwargs):
        if name in OPTIONS:
            opts[name] = kwargs.pop(name)
    payload = {"func": func_path(func), "args": list(args), "kwargs": kwargs}
    if opts.get("task_name"):
        payload["name"] = opts["task_name"]
    try:
        json.dumps(payload)
    except TypeError as e:
        raise TypeError("task arguments must be JSON: {}".format(e)) from e
    return payload, opts


def _hooks(opts):
    """The follow-up spec of opts' hook, in a list, or an empty list."""
    if not opts.get("hook"):
        return []
    spec = _spec({"func": func_path(opts["hook"]), "args": [], "kwargs": {}, "hook": True},
                 {"queue": opts.get("queue"), "cluster": opts.get("cluster")})  # not in the task's group
    spec["when"] = "done"
    return [spec]


def _spec(payload, opts, then=()):
    """A follow-up task spec (docs/sql-contract.md, "Follow-up tasks") of payload with opts."""
    for name in ("delay", "run_at", "unique"):
        if opts.get(name) is not None:
            raise ValueError("{}= is not available on a chain's later steps or a hook".format(name))
    spec = {"job": conf.get("JOB"), "payload": payload}
    queue = opts.get("queue") or opts.get("cluster") or conf.get("QUEUE")
    timeout = opts.get("timeout", conf.get("TIMEOUT"))
    max_attempts = opts.get("max_attempts", conf.get("MAX_ATTEMPTS"))
    for key, value in (("queue", queue), ("priority", opts.get("priority")), ("max_attempts", max_attempts),
                       ("timeout_ms", None if timeout is None else int(round(timeout * 1000))),
                       ("group", opts.get("group"))):
        if value is not None:
            spec[key] = value
    if then:
        spec["then"] = list(then)
    return spec


def _enqueue(payload, opts, then):
    """Enqueue one task with its follow-up specs; return its id."""
    if opts.get("sync", conf.get("SYNC")):
        return _run_sync(payload, opts.get("group"), then)
    queue = opts.get("queue") or opts.get("cluster") or conf.get("QUEUE")
    timeout = opts.get("timeout", conf.get("TIMEOUT"))
    max_attempts = opts.get("max_attempts", conf.get("MAX_ATTEMPTS"))
    if opts.get("unique"):
        if then:
            raise NotImplementedError("unique= with hook= or in a chain is not available on Sluice (docs/django.md)")
        return _enqueue_unique(payload, opts, queue, timeout, max_attempts)
    options = dict(queue=queue, priority=opts.get("priority"), run_at=opts.get("run_at"), delay=opts.get("delay"),
                   max_attempts=max_attempts, timeout=timeout, group=opts.get("group"), then=then or None)
    if conf.vendor() == "postgresql":
        return postgres.enqueue(conf.connection(), sluice_queue.enqueue_params(conf.get("JOB"), payload, **options))
    return sluice_queue.enqueue(conf.db_path(), conf.get("JOB"), payload, conn=conf.raw_connection(), **options)


def async_chain(chain, group=None, cluster=None, q_options=None):
    """Enqueue a chain of tasks and return its group: each runs after the one
    before it succeeded (unlike Django-Q2, a failure stops the chain).

    chain is a list of (func,), (func, args) or (func, args, kwargs) tuples,
    kwargs taking async_task's options (hook, timeout, ...); q_options apply
    to every step. Sluice enqueues each next step in the transaction that
    records the previous one's success, so the chain survives crashes.
    """
    if not chain:
        raise ValueError("async_chain: the chain is empty")
    group = group or uuid.uuid4().hex
    steps = []
    for item in chain:
        item = (item,) if isinstance(item, str) or callable(item) else tuple(item)
        func = item[0]
        args = item[1] if len(item) > 1 else ()
        kwargs = dict(item[2] if len(item) > 2 else {})
        kwargs["q_options"] = {**(q_options or {}), **kwargs.get("q_options", {}), "group": group}
        if cluster:
            kwargs["q_options"].setdefault("cluster", cluster)
        steps.append(_prepare(func, args, kwargs))
    then = []
    for payload, opts in reversed(steps[1:]):
        then = [_spec(payload, opts, _hooks(opts) + then)]
    payload, opts = steps[0]
    _enqueue(payload, opts, _hooks(opts) + then)
    return group


class Chain:
    """Django-Q2's Chain: append tasks, then run them in order as one chain."""

    def __init__(self, chain=None, group=None, cluster=None, q_options=None):
        self.chain = list(chain or [])
        self.group = group or uuid.uuid4().hex
        self.cluster = cluster
        self.q_options = q_options
        self.started = False

    def append(self, func, *args, **kwargs):
        """Add func(*args, **kwargs) at the end; return the chain's length."""
        self.chain.append((func, args, kwargs))
        return len(self.chain)

    def run(self):
        """Enqueue the chain; return its group."""
        self.started = True
        return async_chain(self.chain, group=self.group, cluster=self.cluster, q_options=self.q_options)

    def length(self):
        return len(self.chain)

    def fetch(self, failures=True, wait=0):
        """The finished tasks of the chain, in order."""
        return fetch_group(self.group, failures=failures, count=len(self.chain), wait=wait)

    def result(self, wait=0):
        """The results of the chain's succeeded tasks, in order."""
        return result_group(self.group, count=len(self.chain), wait=wait)

    def current(self):
        """How many of the chain's tasks finished."""
        return len(fetch_group(self.group))


def _run_sync(payload, group, then=()):
    """Run a task inline, in the caller's database connection (tests), then
    its follow-ups as Sluice would: chain steps after success, hooks always."""
    started = time.time()
    ok, value = run_payload(payload)
    task_id = -(len(_sync) + 1)  # negative: never a real task's id
    _sync[task_id] = Task({
        "id": task_id, "job": conf.get("JOB"), "payload": json.dumps(payload), "queue": None,
        "state": "succeeded" if ok else "failed", "attempt": 1, "task_group": group,
        "started_at": int(started * 1000), "finished_at": int(time.time() * 1000),
        "duration_ms": int((time.time() - started) * 1000),
        "result": json.dumps(value) if ok else None, "error": None if ok else value,
    })
    for spec in then:
        if spec.get("when") == "done" or ok:
            follow = dict(spec["payload"])
            if spec.get("when") == "done":
                follow["task"] = {"id": task_id}
            _run_sync(follow, spec.get("group"), spec.get("then", ()))
    return task_id


def run_payload(payload):
    """Import and call a task's function: (True, result) or (False, error).

    The error is the end of the traceback; a result that is not JSON is an
    error too.
    """
    try:
        func = import_string(payload["func"])
        if payload.get("hook"):
            value = func(_finished(payload.get("task") or {}))
            json.dumps(value)  # a hook's return value is stored like any result
            return True, value
        value = func(*payload.get("args", []), **payload.get("kwargs", {}))
        json.dumps(value)
        return True, value
    except Exception:
        return False, traceback.format_exc()[-ERROR_TAIL:]


def _finished(info):
    """The Task a hook receives: the finished task, read back by its id, or
    what Sluice put in the hook's payload if it is gone (docs/django.md)."""
    task_id = info.get("id")
    if task_id in _sync:
        return _sync[task_id]
    rows = _rows("id = %s", [task_id]) if task_id is not None else []
    if rows:
        return Task(rows[0])
    result = info.get("result")
    return Task({"id": task_id, "state": info.get("state", "failed"), "task_group": info.get("group"),
                 "error": info.get("error"), "result": None if result is None else json.dumps(result)})


def _enqueue_unique(payload, opts, queue, timeout, max_attempts):
    """unique= goes through `sluice enqueue -unique` (not in the caller's transaction)."""
    argv = ["enqueue", "-unique", str(opts["unique"])]
    for flag, value in (("-queue", queue), ("-priority", opts.get("priority")),
                        ("-group", opts.get("group")), ("-max-attempts", max_attempts)):
        if value is not None:
            argv += [flag, str(value)]
    if timeout is not None:
        argv += ["-timeout", "{}ms".format(int(timeout * 1000))]
    if opts.get("delay") is not None:
        argv += ["-delay", "{}ms".format(int(opts["delay"] * 1000))]
    return int(sluice(*argv, conf.get("JOB"), json.dumps(payload)).split()[-1])


def sluice(*args):
    """Run the sluice program on the queue's database; return its stdout."""
    env = conf.sluice_env()
    # enqueue checks that the job exists; the worker's definition is not needed here.
    env.setdefault("SLUICE_WARM_" + conf.get("JOB").upper(), '["sluice_worker"]')
    p = subprocess.run([conf.get("BINARY"), *args], env=env, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError("sluice {}: {}".format(" ".join(args[:2]), p.stderr.strip()))
    return p.stdout


class Task:
    """A task as fetch returns it, with Django-Q2's attribute names."""

    def __init__(self, row):
        payload = json.loads(row.get("payload") or "{}")
        self.id = row["id"]
        self.func = payload.get("func")
        self.args = payload.get("args", [])
        self.kwargs = payload.get("kwargs", {})
        self.name = payload.get("name") or self.func
        self.group = row.get("task_group")
        self.queue = row.get("queue")
        self.state = row["state"]
        self.success = row["state"] == "succeeded"
        self.attempt_count = row.get("attempt")
        self.error = row.get("error")
        self.result = json.loads(row["result"]) if row.get("result") is not None and self.success else None
        self.started = _time(row.get("started_at"))
        self.stopped = _time(row.get("finished_at"))
        self.time_taken = None if row.get("duration_ms") is None else row["duration_ms"] / 1000
        # One entry per attempt (docs/sql-contract.md); attempt_count restarts at a resubmit.
        self.history = _json(row.get("history"), [])

    def __repr__(self):
        return "<Task {} {} {}>".format(self.id, self.func, self.state)


def _json(value, default):
    """A JSON column's value: SQLite gives text, PostgreSQL's jsonb arrives decoded."""
    if value is None or value == "":
        return default
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def _time(ms):
    if ms is None:
        return None
    return datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)


COLUMNS = ("id, job, payload, queue, priority, state, attempt, max_attempts, timeout_ms, task_group, "
           "run_at, created_at, started_at, finished_at, duration_ms, result, error, history")


def _rows(where, params):
    with conf.connection().cursor() as c:
        c.execute("SELECT {} FROM sluice_tasks_v1 WHERE {}".format(COLUMNS, where), params)
        names = [d[0] for d in c.description]
        return [dict(zip(names, r)) for r in c.fetchall()]


def fetch(task_id, wait=0):
    """The task (a Task) once it finished, else None. wait: milliseconds to
    wait for it to finish (-1: forever), as in Django-Q2."""
    if task_id in _sync:
        return _sync[task_id]
    deadline = None if wait < 0 else time.monotonic() + wait / 1000
    while True:
        rows = _rows("id = %s", [task_id])
        if rows and rows[0]["state"] in sluice_queue.FINAL_STATES:
            return Task(rows[0])
        if deadline is not None and time.monotonic() >= deadline:
            return None
        time.sleep(0.05)


def result(task_id, wait=0):
    """The task's result once it succeeded, else None (Django-Q2's result)."""
    task = fetch(task_id, wait)
    return task.result if task else None


def fetch_group(group, failures=True, count=None, wait=0):
    """The finished tasks of a group, oldest first (failed ones too unless failures=False)."""
    states = ("succeeded", "failed", "cancelled") if failures else ("succeeded",)
    deadline = time.monotonic() + max(wait, 0) / 1000
    while True:
        rows = _rows("task_group = %s AND state IN ({}) ORDER BY id".format(", ".join(["%s"] * len(states))),
                     [group, *states])
        if count is None or len(rows) >= count or time.monotonic() >= deadline:
            return [Task(r) for r in rows]
        time.sleep(0.05)


def result_group(group, failures=False, count=None, wait=0):
    """The results of a group's tasks (None for failed ones when failures=True)."""
    return [t.result for t in fetch_group(group, failures, count, wait)]


def count_group(group, failures=False):
    """How many of a group's tasks finished: succeeded ones, or failed ones with failures=True."""
    with conf.connection().cursor() as c:
        c.execute("SELECT count(*) FROM sluice_tasks_v1 WHERE task_group = %s AND state = %s",
                  [group, "failed" if failures else "succeeded"])
        return c.fetchone()[0]


def delete_group(group, tasks=False):
    """Django-Q2's delete_group: clear the group of its finished tasks, or
    with tasks=True delete them; return how many. Queued and running tasks
    keep their group. Runs `sluice purge -group` (not in the caller's
    transaction)."""
    argv = ["purge", "-json", "-group", str(group)]
    if not tasks:
        argv.append("-ungroup")
    return json.loads(sluice(*argv))["deleted"]


def queue_size(cluster=None):
    """Tasks queued (waiting or due), in one queue or all."""
    where, params = "state = 'queued'", []
    if cluster:
        where, params = where + " AND queue = %s", [cluster]
    with conf.connection().cursor() as c:
        c.execute("SELECT count(*) FROM sluice_tasks_v1 WHERE " + where, params)
        return c.fetchone()[0]


def schedule(func, *args, name=None, schedule_type="O", minutes=None, repeats=-1, next_run=None,
             cron=None, q_options=None, **kwargs):
    """Add a schedule with Django-Q2's arguments, through `sluice schedule add`.

    repeats: -1 forever, N > 0 that many runs (as Django-Q2). next_run: an
    aware datetime, the first due time. Returns the schedule's name.
    """
    q_options = dict(q_options or {})
    for opt in ("timeout", "cluster", "queue", "priority", "max_attempts"):
        if opt in kwargs:
            q_options[opt] = kwargs.pop(opt)
    path = func_path(func)
    kind = SLUICE_TYPES.get(schedule_type)
    if kind is None:
        raise ValueError("schedule_type {!r}: want one of {}".format(schedule_type, ", ".join(SLUICE_TYPES)))
    if repeats == 0:
        raise ValueError("repeats=0 would never run")
    name = name or path
    argv = ["schedule", "add", "-payload", json.dumps({"func": path, "args": list(args), "kwargs": kwargs})]
    if repeats > 0:
        argv += ["-repeats", str(repeats)]
    if next_run is not None:
        argv += ["-start", next_run.isoformat()]
    queue = q_options.get("queue") or q_options.get("cluster") or conf.get("QUEUE")
    if queue:
        argv += ["-queue", queue]
    if q_options.get("timeout") is not None:
        argv += ["-timeout", "{}ms".format(int(q_options["timeout"] * 1000))]
    if q_options.get("priority") is not None:
        argv += ["-priority", str(q_options["priority"])]
    argv += [name, conf.get("JOB"), kind]
    if kind == "minutes":
        argv.append(str(minutes or 1))
    elif kind == "cron":
        argv.append(cron)
    sluice(*argv)
    return name
