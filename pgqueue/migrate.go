package pgqueue

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluicehq/sluice/internal/migrations"
)

// ErrTooNew is returned by Migrate for a database whose schema is newer than
// this binary's: an older Sluice must not write to it.
var ErrTooNew = errors.New("database schema is newer than this binary")

// migrationLock is the pg_advisory_xact_lock key that serializes Migrate
// across processes: the first bytes of "sluice-m" as a number.
const migrationLock int64 = 0x736c7569_63652d6d

// syncLock is the pg_advisory_xact_lock key that serializes SyncSchedules
// across processes: "sluice-s". Another program's advisory locks must not
// use these two keys.
const syncLock int64 = 0x736c7569_63652d73

// The migration table: one row per applied migration (PRAGMA user_version's
// place in SQLite).
const migrationsTable = `CREATE TABLE IF NOT EXISTS sluice_migrations (
    version    integer PRIMARY KEY,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)`

// migration is one numbered schema step (internal/migrations).
type migration = migrations.Step

// Migrate applies every migration of Migrations the database lacks, each in
// its own transaction with its row in sluice_migrations. Each transaction
// takes a transaction-level advisory lock and reads the applied version
// under it, so that processes starting at once apply each step once. The
// lock goes with the transaction, also behind a transaction-mode pooler
// (PgBouncer), where a session lock's unlock could reach another server
// session and leave the lock held. Migrations only go forward: a database
// that has a version this binary does not know fails with ErrTooNew.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	ms, err := migrations.Load(Migrations)
	if err != nil {
		return err
	}
	if len(ms) == 0 {
		return errors.New("no migrations")
	}
	for {
		done, err := migrateStep(ctx, pool, ms)
		if err != nil || done {
			return err
		}
	}
}

// migrateStep applies, in one transaction under the migration lock, the
// first of ms the database lacks. It reports done when none is lacking.
func migrateStep(ctx context.Context, pool *pgxpool.Pool, ms []migration) (done bool, err error) {
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLock); err != nil {
			return wrap("lock", err)
		}
		if _, err := tx.Exec(ctx, migrationsTable); err != nil {
			return wrap("version table", err)
		}
		var current int
		if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM sluice_migrations").Scan(&current); err != nil {
			return wrap("read version", err)
		}
		if latest := ms[len(ms)-1].Version; current > latest {
			return fmt.Errorf("%w: database is at schema version %d, this binary knows up to %d (upgrade sluice)",
				ErrTooNew, current, latest)
		}
		i := slices.IndexFunc(ms, func(m migration) bool { return m.Version > current })
		if i < 0 {
			done = true
			return nil
		}
		m := ms[i]
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
		_, err := tx.Exec(ctx, "INSERT INTO sluice_migrations (version, name) VALUES ($1, $2)", m.Version, m.Name)
		return wrap("migration "+m.Name, err)
	})
	return done, wrap("migrate", err)
}
