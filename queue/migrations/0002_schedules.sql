-- Schedules: named recurring (or one-off) runs of a job. Times are Unix
-- milliseconds (UTC). A schedule fires by inserting tasks and moving
-- next_run_at forward in one write transaction guarded by the old
-- next_run_at, so each due time yields exactly one task however many
-- processes fire at once (queue/schedules.go).
CREATE TABLE schedules (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    job           TEXT    NOT NULL,
    payload       TEXT    NOT NULL DEFAULT '{}',  -- JSON text, copied into each task
    queue         TEXT    NOT NULL DEFAULT 'default',
    priority      INTEGER NOT NULL DEFAULT 0,
    max_attempts  INTEGER,                        -- NULL: the worker's SLUICE_MAX_ATTEMPTS
    timeout_ms    INTEGER,                        -- NULL: the worker's SLUICE_TIMEOUT
    type          TEXT    NOT NULL,               -- schedule.Type: once, minutes, hourly, ..., cron
    every         INTEGER NOT NULL DEFAULT 0,     -- minutes schedules: the interval in minutes
    cron          TEXT    NOT NULL DEFAULT '',    -- cron schedules: the line
    zone          TEXT    NOT NULL DEFAULT 'UTC', -- IANA zone of wall-clock times
    start_at      INTEGER NOT NULL,               -- first due time; fixes wall-clock time and day of month
    repeats       INTEGER NOT NULL DEFAULT -1     -- runs left: -1 forever, else n >= 0
                  CHECK (repeats >= -1),
    next_run_at   INTEGER,                        -- next due time; NULL: no more runs
    last_run_at   INTEGER,                        -- intended time of the latest run fired
    last_task_id  INTEGER,                        -- task of the latest run fired (no-overlap checks it)
    enabled       INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    catch_up      TEXT    NOT NULL DEFAULT 'one' CHECK (catch_up IN ('one', 'all', 'none')),
    no_overlap    INTEGER NOT NULL DEFAULT 0 CHECK (no_overlap IN (0, 1)),
    source        TEXT    NOT NULL DEFAULT 'cli' CHECK (source IN ('cli', 'env')),
    definition    TEXT,                           -- source 'env': the entry of SLUICE_SCHEDULES it came from
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

-- Firing and run loops look for the earliest enabled due time.
CREATE INDEX schedules_due ON schedules (next_run_at) WHERE enabled = 1 AND next_run_at IS NOT NULL;

-- Tasks made by a schedule carry it and the due time they stand for (Unix ms),
-- which may be earlier than run_at after downtime. NULL for other tasks.
ALTER TABLE tasks ADD COLUMN schedule_id INTEGER;
ALTER TABLE tasks ADD COLUMN scheduled_for INTEGER;
