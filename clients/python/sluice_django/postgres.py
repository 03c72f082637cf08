"""The queue in a PostgreSQL database that Django uses.

Enqueue runs the SQL contract's PostgreSQL insert (docs/sql-contract.md,
"PostgreSQL") through Django's own connection, so a task enqueued inside
atomic() commits or rolls back with the caller's writes; sluice_url gives the
sluice program the same database. Needs nothing beyond Django's driver.
"""

from urllib.parse import quote, urlencode

# docs/sql-contract.md's contract-pg:enqueue, word for word but for psycopg's
# %s in place of $1 to $8 (pgqueue/contract_test.go checks both statements).
ENQUEUE_SQL = """
INSERT INTO tasks (job, payload, queue, priority, run_at, created_at, max_attempts, timeout_ms, task_group)
VALUES (
    %s,
    coalesce(%s::text, '{}'),
    coalesce(%s::text, 'default'),
    coalesce(%s::bigint, 0),
    coalesce(%s::bigint, floor(extract(epoch FROM now()) * 1000)::bigint),
    floor(extract(epoch FROM now()) * 1000)::bigint,
    %s::bigint,
    %s::bigint,
    %s::text
)
RETURNING id"""

# The same with follow-up specs (chains and hooks): contract-pg:followups,
# with %s for $1 to $9.
ENQUEUE_FOLLOW_UPS_SQL = """
INSERT INTO tasks (job, payload, queue, priority, run_at, created_at, max_attempts, timeout_ms, task_group, follow_ups)
VALUES (
    %s,
    coalesce(%s::text, '{}'),
    coalesce(%s::text, 'default'),
    coalesce(%s::bigint, 0),
    coalesce(%s::bigint, floor(extract(epoch FROM now()) * 1000)::bigint),
    floor(extract(epoch FROM now()) * 1000)::bigint,
    %s::bigint,
    %s::bigint,
    %s::text,
    %s::json
)
RETURNING id"""

# The named parameters of sluice_queue.enqueue_params, in the statement's order.
ORDER = ("job", "payload", "queue", "priority", "run_at", "max_attempts", "timeout_ms", "task_group")

# Django OPTIONS that are connection parameters pgx reads as libpq does:
# they go into the URL so that sluice connects the way Django does.
URL_OPTIONS = ("sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout", "application_name",
               "target_session_attrs", "options")


def enqueue(connection, params):
    """Insert one task with sluice_queue.enqueue_params' params through the
    Django connection (in its current transaction, if any); return its id."""
    args = [params[name] for name in ORDER]
    with connection.cursor() as c:
        if "follow_ups" not in params:
            c.execute(ENQUEUE_SQL, args)
            return c.fetchone()[0]
        c.execute(ENQUEUE_FOLLOW_UPS_SQL, args + [params["follow_ups"]])
        return c.fetchone()[0]


def sluice_url(settings_dict):
    """SLUICE_DB for the database of a Django connection's settings: a
    postgres:// URL without the password (give it in PGPASSWORD). A HOST that
    is a Unix-socket directory goes in the host= parameter; empty settings
    are left out, so PGHOST, PGPORT, PGUSER and ~/.pgpass fill them in, as
    they do for Django's driver."""
    host = settings_dict.get("HOST") or ""
    port = str(settings_dict.get("PORT") or "")
    user = settings_dict.get("USER") or ""
    netloc = quote(user, safe="") + "@" if user else ""
    query = []
    if host.startswith("/"):
        query.append(("host", host))
        if port:
            query.append(("port", port))
    elif host:
        netloc += "[{}]".format(host) if ":" in host else host
        if port:
            netloc += ":" + port
    elif port:
        query.append(("port", port))
    options = settings_dict.get("OPTIONS") or {}
    query += [(name, str(options[name])) for name in URL_OPTIONS if options.get(name) is not None]
    # Django connects to the database "postgres" when NAME is None.
    url = "postgres://{}/{}".format(netloc, quote(settings_dict.get("NAME") or "postgres", safe=""))
    if query:
        url += "?" + urlencode(query, quote_via=quote)
    return url
