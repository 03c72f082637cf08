-- Unique tasks: at most one queued or running task per unique key. The
-- database enforces it with this partial unique index; Enqueue inserts with
-- ON CONFLICT DO NOTHING and then returns the task that holds the key.
-- A plain SQL insert that repeats an active key fails with a UNIQUE error.
ALTER TABLE tasks ADD COLUMN unique_key TEXT;
CREATE UNIQUE INDEX tasks_unique ON tasks (unique_key)
    WHERE unique_key IS NOT NULL AND state IN ('queued', 'running');

-- Group listings and summaries (sluice tasks -group, sluice groups).
CREATE INDEX tasks_group ON tasks (task_group, state) WHERE task_group IS NOT NULL;
