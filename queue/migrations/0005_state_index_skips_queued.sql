-- Task indexes that cost less per task: tasks_state for finished tasks only,
-- and tasks_lease for running ones in lease order.
--
-- Every query that reads queued tasks walks tasks_due, so tasks_state's
-- queued entries only cost one more B-tree insert for every task enqueued
-- and one more delete for every claim (a batch enqueue ran a quarter slower
-- for them; BENCHMARKS.md). Running tasks move to tasks_lease, ordered by
-- lease_until, so that lease recovery, which runs before every claim, seeks
-- the expired leases instead of reading every running task of every worker.
-- A task still has one entry in these three indexes at a time.
--
-- SQLite uses a partial index only for a query whose WHERE clause implies
-- the index's, by comparing terms as written (and bound values): queries in
-- queue/ name one state, or the three final states as finishedStates
-- (queue/task.go) writes them.
DROP INDEX tasks_state;
CREATE INDEX tasks_state ON tasks (state, finished_at)
    WHERE state = 'succeeded' OR state = 'failed' OR state = 'cancelled';
CREATE INDEX tasks_lease ON tasks (lease_until) WHERE state = 'running';
