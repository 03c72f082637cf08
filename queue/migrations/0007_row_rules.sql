-- Row rules: the schema refuses a task row that would break the queue
-- (docs/sql-contract.md, "What the schema refuses"). Other languages insert
-- rows with plain SQL; before these triggers, text in an integer column, a
-- history that is not JSON or a run_at past year 9999 went in silently and
-- failed the worker's statements, listings or JSON output later.
--
-- Triggers, not CHECK constraints: adding a CHECK to a table SQLite has
-- means rebuilding it, a copy of every task on upgrade that must also name
-- every column other migrations add; a trigger is added in place, costs
-- only the rows it checks, and names the broken rule in its error. Every
-- construct here is one SQLite 3.37 (Python on Debian 12) parses.
--
-- Rows already stored are not checked: the worker fails a stored row that
-- breaks the rules at its next claim ("invalid row: ..."), and readers
-- tolerate it (queue/rules.go). Sluice's own writer does not fire these
-- triggers (it checks its writes in Go; queue.New says why).
--
-- A running task held by no worker, or whose lease is not a time, was
-- never recovered: it gets an expired lease, so the next claim's lease
-- recovery takes it back. (A NULL lease with a worker is left alone: a
-- worker registered by migration 0006 holds its tasks without one.)
UPDATE tasks SET lease_until = 0
WHERE state = 'running'
  AND ((lease_until IS NULL AND worker IS NULL)
       OR (lease_until IS NOT NULL AND (typeof(lease_until) <> 'integer' OR lease_until > 253402300799999)));

-- Every insert, whoever makes it.
CREATE TRIGGER tasks_insert_rules BEFORE INSERT ON tasks
BEGIN
    SELECT CASE
        WHEN typeof(NEW.job) <> 'text' OR NEW.job = ''
            THEN RAISE(ABORT, 'invalid row: job must be a non-empty text')
        WHEN typeof(NEW.priority) <> 'integer' OR NEW.priority < 0
            THEN RAISE(ABORT, 'invalid row: priority must be a whole number, 0 or more')
        WHEN typeof(NEW.attempt) <> 'integer' OR NEW.attempt < 0
            THEN RAISE(ABORT, 'invalid row: attempt must be a whole number, 0 or more')
        WHEN NEW.max_attempts IS NOT NULL AND (typeof(NEW.max_attempts) <> 'integer' OR NEW.max_attempts < 1)
            THEN RAISE(ABORT, 'invalid row: max_attempts must be NULL or a whole number, 1 or more')
        WHEN NEW.timeout_ms IS NOT NULL AND (typeof(NEW.timeout_ms) <> 'integer' OR NEW.timeout_ms < 1 OR NEW.timeout_ms > 86400000)
            THEN RAISE(ABORT, 'invalid row: timeout_ms must be NULL or a whole number of milliseconds from 1 to 86400000 (24 hours)')
        WHEN typeof(NEW.run_at) <> 'integer' OR NEW.run_at < 0 OR NEW.run_at > 253402300799999
            THEN RAISE(ABORT, 'invalid row: run_at must be Unix milliseconds from 0 to 253402300799999 (year 9999)')
        WHEN typeof(NEW.created_at) <> 'integer' OR NEW.created_at < 0 OR NEW.created_at > 253402300799999
            THEN RAISE(ABORT, 'invalid row: created_at must be Unix milliseconds from 0 to 253402300799999 (year 9999)')
        WHEN (NEW.started_at IS NOT NULL AND (typeof(NEW.started_at) <> 'integer' OR NEW.started_at < 0 OR NEW.started_at > 253402300799999))
          OR (NEW.finished_at IS NOT NULL AND (typeof(NEW.finished_at) <> 'integer' OR NEW.finished_at < 0 OR NEW.finished_at > 253402300799999))
          OR (NEW.lease_until IS NOT NULL AND (typeof(NEW.lease_until) <> 'integer' OR NEW.lease_until < 0 OR NEW.lease_until > 253402300799999))
          OR (NEW.scheduled_for IS NOT NULL AND (typeof(NEW.scheduled_for) <> 'integer' OR NEW.scheduled_for < 0 OR NEW.scheduled_for > 253402300799999))
            THEN RAISE(ABORT, 'invalid row: started_at, finished_at, lease_until and scheduled_for must be NULL or Unix milliseconds from 0 to 253402300799999 (year 9999)')
        WHEN NEW.duration_ms IS NOT NULL AND (typeof(NEW.duration_ms) <> 'integer' OR NEW.duration_ms < 0)
            THEN RAISE(ABORT, 'invalid row: duration_ms must be NULL or a whole number, 0 or more')
        WHEN NEW.state = 'running'
            THEN RAISE(ABORT, 'invalid row: a task is running only once a worker claims it: insert it queued')
        WHEN NOT json_valid(NEW.history) -- json_type fails on invalid JSON: checked first
            THEN RAISE(ABORT, 'invalid row: history must be a JSON array')
        WHEN json_type(NEW.history) <> 'array'
            THEN RAISE(ABORT, 'invalid row: history must be a JSON array')
    END;
END;

-- Updates of the columns only a client writes (Sluice never updates them,
-- so its own claims and outcomes do not fire this).
CREATE TRIGGER tasks_update_rules BEFORE UPDATE OF job, priority, max_attempts, timeout_ms, created_at ON tasks
BEGIN
    SELECT CASE
        WHEN typeof(NEW.job) <> 'text' OR NEW.job = ''
            THEN RAISE(ABORT, 'invalid row: job must be a non-empty text')
        WHEN typeof(NEW.priority) <> 'integer' OR NEW.priority < 0
            THEN RAISE(ABORT, 'invalid row: priority must be a whole number, 0 or more')
        WHEN NEW.max_attempts IS NOT NULL AND (typeof(NEW.max_attempts) <> 'integer' OR NEW.max_attempts < 1)
            THEN RAISE(ABORT, 'invalid row: max_attempts must be NULL or a whole number, 1 or more')
        WHEN NEW.timeout_ms IS NOT NULL AND (typeof(NEW.timeout_ms) <> 'integer' OR NEW.timeout_ms < 1 OR NEW.timeout_ms > 86400000)
            THEN RAISE(ABORT, 'invalid row: timeout_ms must be NULL or a whole number of milliseconds from 1 to 86400000 (24 hours)')
        WHEN typeof(NEW.created_at) <> 'integer' OR NEW.created_at < 0 OR NEW.created_at > 253402300799999
            THEN RAISE(ABORT, 'invalid row: created_at must be Unix milliseconds from 0 to 253402300799999 (year 9999)')
    END;
END;
