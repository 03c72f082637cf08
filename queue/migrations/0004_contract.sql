-- The SQL contract, version 1 (docs/sql-contract.md): what other languages
-- may rely on. A breaking change adds version 2 beside version 1; it never
-- edits these objects in place.
--
-- Keep every object here readable by old SQLite libraries (Python's sqlite3
-- links the system's, 3.37 to 3.40 on current Debian and Ubuntu): SQLite
-- parses the whole schema when a connection opens, so one newer construct in
-- a view locks every such client out. No ->> operators, no unixepoch().
--
-- A migration that rebuilds the tasks table must drop these views first and
-- create them again after, or the rename of the new table fails.

-- The contract versions this database honours, one row each.
CREATE VIEW sluice_contract (version) AS VALUES (1);

-- Version 1 of the read side: the columns a client may read, whatever the
-- tasks table grows. Workers' private columns (lease, worker id) stay out.
CREATE VIEW sluice_tasks_v1 AS
SELECT id, job, payload, queue, priority, state, attempt, max_attempts, timeout_ms, task_group,
       run_at, created_at, started_at, finished_at, duration_ms, result, error, history
FROM tasks;
