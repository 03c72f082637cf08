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

// Store is the task queue kept in one SQLite database.
// It is safe for concurrent use; writes are serialized on the database's writer connection.
type Store struct {
	db  *sqlitewal.DB
	now func() time.Time

	mu       sync.Mutex
	enqueued chan struct{} // closed when this Store adds tasks; see Enqueued

	stmtMu sync.Mutex
	stmts  map[string]*sql.Stmt // hot statements, prepared once on the writer
}

// NewOpts tunes New.
type NewOpts struct {
	// Now is the clock; tests inject one. Default time.Now.
	Now func() time.Time
}

// New returns a Store on an open database whose schema includes Migrations.
func New(db *sqlitewal.DB, opts NewOpts) *Store {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Store{db: db, now: opts.Now}
}

// Open opens (creating if needed) the queue file at path with the schema applied.
// Close the returned Store's DB when done.
func Open(ctx context.Context, path string) (*Store, error) {
	db, err := sqlitewal.Open(ctx, path, sqlitewal.Options{Migrations: Migrations})
	if err != nil {
		return nil, err
	}
	return New(db, NewOpts{}), nil
}

// DB returns the underlying database, for callers that run their own transactions.
func (s *Store) DB() *sqlitewal.DB { return s.db }

// Close closes the underlying database.
func (s *Store) Close() error {
	s.stmtMu.Lock()
	for _, st := range s.stmts {
		st.Close()
	}
	s.stmts = nil
	s.stmtMu.Unlock()
	return s.db.Close()
}

// hotSQL is the statements a busy worker runs thousands of times a second:
// compiling them once saves about a tenth of a drain's CPU.
var hotSQL = []string{outcomeSQL, recoverSQL, claimAllSQL, claimQueuesSQL}

// prepareHot prepares hotSQL on the writer connection, once. It must run
// outside a transaction: the writer pool's one connection is busy inside one.
func (s *Store) prepareHot(ctx context.Context) error {
	s.stmtMu.Lock()
	defer s.stmtMu.Unlock()
	if s.stmts != nil {
		return nil
	}
	stmts := make(map[string]*sql.Stmt, len(hotSQL))
	for _, q := range hotSQL {
		st, err := s.db.Write.PrepareContext(ctx, q)
		if err != nil {
			for _, st := range stmts {
				st.Close()
			}
			return wrap("prepare statements", err)
		}
		stmts[q] = st
	}
	s.stmts = stmts
	return nil
}

// stmt returns the prepared hot statement for query, bound to tx. The writer
// pool has one connection, on which the statement is already prepared, so
// StmtContext reuses it instead of compiling it again.
func (s *Store) stmt(ctx context.Context, tx *sql.Tx, query string) *sql.Stmt {
	s.stmtMu.Lock()
	st := s.stmts[query]
	s.stmtMu.Unlock()
	return tx.StmtContext(ctx, st)
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
