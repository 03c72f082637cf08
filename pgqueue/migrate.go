package pgqueue

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrTooNew is returned by Migrate for a database whose schema is newer than
// this binary's: an older Sluice must not write to it.
var ErrTooNew = errors.New("database schema is newer than this binary")

// migrationLock is the pg_advisory_lock key that serializes Migrate across
// processes: the first bytes of "sluice-m" as a number.
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

// migration is one numbered schema step.
type migration struct {
	version int
	name    string
	sql     string
}

// Migrate applies every migration of Migrations the database lacks, each in
// its own transaction with its row in sluice_migrations, under a session
// advisory lock so that processes starting at once apply each step once.
// Migrations only go forward: a database that has a version this binary does
// not know fails with ErrTooNew.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	ms, err := loadMigrations(Migrations)
	if err != nil {
		return err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return wrap("migrate", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLock); err != nil {
		return wrap("migrate: lock", err)
	}
	defer func() {
		// Without the unlock the session would keep the lock; if it fails,
		// closing the connection drops it.
		if _, err := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLock); err != nil {
			conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}()
	if _, err := conn.Exec(ctx, migrationsTable); err != nil {
		return wrap("migrate: version table", err)
	}
	var current int
	if err := conn.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM sluice_migrations").Scan(&current); err != nil {
		return wrap("migrate: read version", err)
	}
	latest := ms[len(ms)-1].version
	if current > latest {
		return fmt.Errorf("migrate: %w: database is at schema version %d, this binary knows up to %d (upgrade sluice)",
			ErrTooNew, current, latest)
	}
	for _, m := range ms {
		if m.version <= current {
			continue
		}
		tx, err := conn.Begin(ctx)
		if err != nil {
			return fmt.Errorf("migration %s: begin: %w", m.name, err)
		}
		_, err = tx.Exec(ctx, m.sql)
		if err == nil {
			_, err = tx.Exec(ctx, "INSERT INTO sluice_migrations (version, name) VALUES ($1, $2)", m.version, m.name)
		}
		if err == nil {
			err = tx.Commit(ctx)
		}
		if err != nil {
			tx.Rollback(context.WithoutCancel(ctx))
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
	}
	return nil
}

// loadMigrations reads NNNN_description.sql files from fsys, sorted by number.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	var ms []migration
	seen := map[int]string{}
	for _, name := range names {
		num, _, ok := strings.Cut(path.Base(name), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive number and an underscore", name)
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s share number %d", other, name, v)
		}
		seen[v] = name
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", name, err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(body)})
	}
	if len(ms) == 0 {
		return nil, errors.New("no migrations")
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}
