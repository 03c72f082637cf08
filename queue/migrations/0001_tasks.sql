-- Tasks: one row per queued run of a job. Times are Unix milliseconds (UTC).
-- This table is Sluice's SQL contract: other languages insert rows into it
-- (see docs/sql-contract.md); columns may be added but never renamed.
CREATE TABLE tasks (
    id           INTEGER PRIMARY KEY,
    job          TEXT    NOT NULL,
    payload      TEXT    NOT NULL DEFAULT '{}',  -- JSON text, checked before the job runs
    queue        TEXT    NOT NULL DEFAULT 'default',
    priority     INTEGER NOT NULL DEFAULT 0,     -- higher runs first
    state        TEXT    NOT NULL DEFAULT 'queued'
                 -- OR, not IN: SQLite builds a temporary table for an IN list
                 -- on every row it checks, which cost a fifth of a drain.
                 CHECK (state = 'queued' OR state = 'running' OR state = 'succeeded'
                        OR state = 'failed' OR state = 'cancelled'),
    attempt      INTEGER NOT NULL DEFAULT 0,     -- attempts started so far
    max_attempts INTEGER,                        -- NULL: the worker's SLUICE_MAX_ATTEMPTS
    timeout_ms   INTEGER,                        -- NULL: the worker's SLUICE_TIMEOUT
    run_at       INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)),
    created_at   INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)),
    started_at   INTEGER,                        -- start of the latest attempt
    finished_at  INTEGER,                        -- set when the task reaches a final state
    lease_until  INTEGER,                        -- while running: when another worker may take it over
    worker       TEXT,                           -- while running: the process holding the lease
    duration_ms  INTEGER,                        -- of the latest attempt
    result       TEXT,
    error        TEXT,                           -- of the latest failed attempt
    history      TEXT    NOT NULL DEFAULT '[]',  -- JSON array: every attempt with its error and duration
    task_group   TEXT
);

-- The claim query: due queued tasks in priority, run_at, id order.
CREATE INDEX tasks_due ON tasks (priority DESC, run_at, id) WHERE state = 'queued';
-- Listings, counts, retention by state and age, and lease recovery
-- (running tasks are few: at most the workers of every live process).
CREATE INDEX tasks_state ON tasks (state, finished_at);
