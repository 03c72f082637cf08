-- Follow-up tasks (chains and hooks): a JSON array of task specs that the
-- worker's outcome statement turns into new tasks, in the same transaction
-- as the outcome (docs/sql-contract.md, "Follow-up tasks"). NULL, the
-- default, costs a finished task nothing.
ALTER TABLE tasks ADD COLUMN follow_ups TEXT;
