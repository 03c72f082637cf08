-- Follow-up tasks (chains and hooks), as SQLite's migration 0008: a JSON
-- array of task specs that the worker's outcome statement turns into new
-- tasks, in the same transaction as the outcome (docs/sql-contract.md,
-- "Follow-up tasks"). json, not jsonb: the type refuses text that is not
-- JSON, and keeps each spec's payload byte for byte as it was written.
-- NULL, the default, costs a finished task nothing.
ALTER TABLE tasks ADD COLUMN follow_ups json;

-- sluice_json_or_text is v as JSON when it is JSON, else as a JSON string:
-- the finished task's result in a hook's payload. A job's result may be
-- any text; the cast's error is caught (PostgreSQL 15 has no IS JSON).
CREATE FUNCTION sluice_json_or_text(v text) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE STRICT AS $$
BEGIN
    RETURN v::jsonb;
EXCEPTION WHEN others THEN
    RETURN to_jsonb(v);
END $$;
