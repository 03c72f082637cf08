-- Wake run loops on every machine when tasks are inserted, by whatever
-- program (Sluice, a client of the SQL contract, psql): one NOTIFY on the
-- channel sluice_enqueued per statement that inserted rows, delivered when
-- its transaction commits (never for one rolled back). PostgreSQL folds
-- repeats within a transaction into one. The payload is empty: a listener
-- only learns that it should claim.
CREATE FUNCTION sluice_notify_enqueued() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM inserted) THEN
        PERFORM pg_notify('sluice_enqueued', '');
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER tasks_notify_enqueued AFTER INSERT ON tasks
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION sluice_notify_enqueued();
