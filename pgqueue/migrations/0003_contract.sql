-- The SQL contract, version 1 (docs/sql-contract.md), in PostgreSQL: the
-- same objects as queue/migrations/0004_contract.sql. A breaking change adds
-- version 2 beside version 1; it never edits these objects in place.

-- The contract versions this database honours, one row each.
CREATE VIEW sluice_contract (version) AS VALUES (1);

-- Version 1 of the read side: the columns a client may read, whatever the
-- tasks table grows. Workers' private columns (lease, worker id) stay out.
CREATE VIEW sluice_tasks_v1 AS
SELECT id, job, payload, queue, priority, state, attempt, max_attempts, timeout_ms, task_group,
       run_at, created_at, started_at, finished_at, duration_ms, result, error, history
FROM tasks;
