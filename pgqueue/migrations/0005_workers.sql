-- Workers: one row per live drain or run process, as in SQLite's migration
-- 0006. A worker registers at start, heartbeats inside every exchange (and
-- with a small write when it has nothing else to write), and deletes its row
-- when it exits. A worker whose heartbeat is older than its own stale_ms is
-- dead: the next claim by anyone deletes its row and recovers the tasks it
-- held, however long their own timeouts are. A live worker's tasks are never
-- taken (pgqueue/recover.go). Times are the database's clock, Unix ms.
CREATE TABLE workers (
    id           text   PRIMARY KEY,            -- tasks.worker of the tasks it holds
    host         text   NOT NULL,
    pid          bigint NOT NULL,
    version      text   NOT NULL,
    command      text   NOT NULL,               -- drain or run
    started_at   bigint NOT NULL,
    heartbeat_at bigint NOT NULL,
    stale_ms     bigint NOT NULL CHECK (stale_ms > 0) -- dead once heartbeat_at + stale_ms <= now
);

-- Times a task was taken back from a dead worker, whether or not the attempt
-- was charged: a task that keeps bringing its workers down ends failed after
-- queue.MaxRecoveries of them.
ALTER TABLE tasks ADD COLUMN recoveries bigint NOT NULL DEFAULT 0;

-- sluice_heartbeat records that worker_id is alive at "at" (Unix ms). It
-- fails with SQLSTATE SLOST when the worker is not registered (another
-- worker judged it dead and took its tasks back, or it unregistered): the
-- error aborts the rest of the exchange's transaction, so a lost worker
-- writes and claims nothing. Its row lock is held to the end of the exchange:
-- a worker judging it dead skips it meanwhile (FOR UPDATE SKIP LOCKED).
CREATE FUNCTION sluice_heartbeat(worker_id text, at bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE workers SET heartbeat_at = at WHERE id = worker_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'worker % is not registered: judged dead, its tasks taken back', worker_id
            USING ERRCODE = 'SLOST';
    END IF;
END $$;
