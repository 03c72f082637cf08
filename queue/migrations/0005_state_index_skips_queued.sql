-- tasks_state without queued tasks. Every query that reads queued tasks by
-- state walks tasks_due, so tasks_state's queued entries only cost: one more
-- B-tree insert for every task enqueued and one more delete for every claim
-- (a batch enqueue ran a quarter slower for it; BENCHMARKS.md).
--
-- SQLite uses a partial index only for a query whose WHERE clause implies
-- the index's, by comparing terms as written (no reasoning about values). The
-- queries in queue/ therefore spell the states out in this order: one state
-- of the four, the first three together (finishedStates), or all four.
DROP INDEX tasks_state;
CREATE INDEX tasks_state ON tasks (state, finished_at)
    WHERE state = 'succeeded' OR state = 'failed' OR state = 'cancelled' OR state = 'running';
