-- A follow-up spec must be JSON that PostgreSQL can read as text. The json
-- type takes any valid JSON, but reading a string that holds the escape
-- \u0000 (or a lone surrogate, or a number past numeric's range in a hook's
-- payload) fails: the statement that records an outcome, recovers a dead
-- worker's tasks or cancels one would then fail on that row every time, and
-- with it every worker's exchange. Sluice refuses such specs at enqueue
-- (queue's EnqueueParams.Validate); this trigger refuses them from any other
-- program too (a client of the SQL contract, psql), at the insert or update
-- that writes them. The cast is the check: jsonb reads every string and
-- number, and raises the error the follow-up statements would. No exception
-- is caught, so no subtransaction is started, and rows without follow-ups
-- (WHEN) or updates that leave the column alone (UPDATE OF) cost nothing.
CREATE FUNCTION sluice_check_follow_ups() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM NEW.follow_ups::jsonb;
    RETURN NEW;
END $$;

CREATE TRIGGER tasks_check_follow_ups BEFORE INSERT OR UPDATE OF follow_ups ON tasks
    FOR EACH ROW WHEN (NEW.follow_ups IS NOT NULL) EXECUTE FUNCTION sluice_check_follow_ups();
