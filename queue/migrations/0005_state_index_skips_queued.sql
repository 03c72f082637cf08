-- tasks_state without queued tasks, and with running tasks in lease order.
--
-- Every query that reads queued tasks walks tasks_due, so tasks_state's
-- queued entries only cost: one more B-tree insert for every task enqueued
-- and one more delete for every claim (a batch enqueue ran a quarter slower
-- for them; BENCHMARKS.md).
--
-- lease_until, after finished_at (always NULL while a task runs: the claim
-- clears it), lets lease recovery, which runs before every claim, seek the
-- expired leases instead of reading every running task of every worker.
--
-- SQLite uses a partial index only for a query whose WHERE clause implies
-- the index's, by comparing terms as written (and bound values). The queries
-- in queue/ therefore name one state, the first three together
-- (finishedStates in queue/task.go), or all four in this order.
DROP INDEX tasks_state;
CREATE INDEX tasks_state ON tasks (state, finished_at, lease_until)
    WHERE state = 'succeeded' OR state = 'failed' OR state = 'cancelled' OR state = 'running';
