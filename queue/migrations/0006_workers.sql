-- Workers: one row per live drain or run process. A worker registers at
-- start, heartbeats inside every exchange (and with a small write when it has
-- nothing else to write), and deletes its row when it exits. A worker whose
-- heartbeat is older than its own stale_ms is dead: the next claim by anyone
-- deletes its row and recovers the tasks it held, however long their own
-- timeouts are. A live worker's tasks are never taken (queue/claim.go).
CREATE TABLE workers (
    id           TEXT    PRIMARY KEY,           -- tasks.worker of the tasks it holds
    host         TEXT    NOT NULL,
    pid          INTEGER NOT NULL,
    version      TEXT    NOT NULL,
    command      TEXT    NOT NULL,              -- drain or run
    started_at   INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL,
    stale_ms     INTEGER NOT NULL CHECK (stale_ms > 0) -- dead once heartbeat_at + stale_ms <= now
);

-- Times a task was taken back from a dead worker, whether or not the attempt
-- was charged: a task that keeps bringing its workers down ends failed after
-- queue.MaxRecoveries of them.
ALTER TABLE tasks ADD COLUMN recoveries INTEGER NOT NULL DEFAULT 0;
