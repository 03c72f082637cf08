// Package queue stores tasks in SQLite: enqueue, claim with leases, batched
// outcomes and reads. All of Sluice's SQL for the tasks table lives here.
package queue

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"github.com/sluicehq/sluice/sqlitewal"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations is the schema, applied by sqlitewal.Open.
var Migrations, _ = fs.Sub(migrationFiles, "migrations")

// ApplicationID marks Sluice's databases (PRAGMA application_id, "SLCE"):
// sqlitewal.Open refuses a file that carries another.
const ApplicationID = 0x534c4345

// OpenOptions are the sqlitewal options of a queue file: the schema, the
// ApplicationID, and a writer that skips the row rules' triggers (see New).
func OpenOptions() sqlitewal.Options {
	return sqlitewal.Options{Migrations: Migrations, ApplicationID: ApplicationID, WriterSkipsTriggers: true}
}

// Store is the task queue kept in one SQLite database.
// It is safe for concurrent use; writes are serialized on the database's writer connection.
type Store struct {
	db  *sqlitewal.DB
	now func() time.Time

	mu       sync.Mutex
	enqueued chan struct{} // closed when this Store adds tasks; see Enqueued
}

// NewOpts tunes New.
type NewOpts struct {
	// Now is the clock; tests inject one. Default time.Now.
	Now func() time.Time
}

// New returns a Store on an open database whose schema includes Migrations.
// Open the database with OpenOptions, whose writer skips triggers: the Store
// checks what it writes itself (EnqueueParams.Validate), and the schema's
// row rules (migration 0007), triggers, would cost every batch insert a
// trigger program per row. They still guard every other connection.
func New(db *sqlitewal.DB, opts NewOpts) *Store {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Store{db: db, now: opts.Now}
}

// Open opens (creating if needed) the queue file at path with the schema applied.
// Close the returned Store's DB when done.
func Open(ctx context.Context, path string) (*Store, error) {
	db, err := sqlitewal.Open(ctx, path, OpenOptions())
	if err != nil {
		return nil, err
	}
	return New(db, NewOpts{}), nil
}

// DB returns the underlying database, for callers that run their own transactions.
func (s *Store) DB() *sqlitewal.DB { return s.db }

// Close closes the underlying database.
func (s *Store) Close() error {
	return s.db.Close()
}

// wrap names the operation in an error.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", op, err)
}

// Ping reads the tasks table, so a health check fails when the database
// cannot be read (a missing or unreadable file, a disk error).
func (s *Store) Ping(ctx context.Context) error {
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		var found bool
		return tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM tasks)").Scan(&found)
	})
	return wrap("read the queue", err)
}
