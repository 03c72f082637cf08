// Package pgqueue stores tasks in PostgreSQL: the same operations, types and
// meaning as package queue (the SQLite store), for workers spread over
// several machines that share one database. Claims take rows with
// FOR UPDATE SKIP LOCKED, workers' heartbeats (and unregistered claims'
// leases) are measured on the database's clock, and inserts wake listening
// run loops with NOTIFY.
package pgqueue

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations is the schema, applied by Migrate.
var Migrations, _ = fs.Sub(migrationFiles, "migrations")

// Store is the task queue kept in one PostgreSQL database. It is safe for
// concurrent use, by goroutines and by processes on other machines.
type Store struct {
	pool *pgxpool.Pool
	now  func() time.Time // nil: the database's clock
	// local is this process's clock (now, else time.Now): a worker's
	// retry time, read on it, is written as a delay from the database's now.
	local  func() time.Time
	logger *slog.Logger

	mu       sync.Mutex
	enqueued chan struct{} // closed when tasks are added; see Enqueued
	listener *listener     // started by the first Enqueued
	closed   bool
}

// NewOpts tunes New and Open.
type NewOpts struct {
	// Now is the clock. Nil, the default, reads the database server's clock
	// in every statement that needs the time, so workers on machines whose
	// clocks disagree still agree on leases and due times. Tests inject one.
	Now func() time.Time
	// Logger reports what the NOTIFY listener does in the background
	// (reconnects); default: discard.
	Logger *slog.Logger
}

// New returns a Store on a pool whose database has Migrations applied
// (Migrate). Close closes the pool.
func New(pool *pgxpool.Pool, opts NewOpts) *Store {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	local := opts.Now
	if local == nil {
		local = time.Now
	}
	return &Store{pool: pool, now: opts.Now, local: local, logger: opts.Logger}
}

// Open connects to the database at url (postgres://... or key=value pairs;
// the usual PG* variables fill in what it leaves out), applies Migrations
// and returns the Store. Close it when done.
func Open(ctx context.Context, url string, opts NewOpts) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	if err := Migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return New(pool, opts), nil
}

// Pool returns the connection pool, for callers that run their own
// transactions (EnqueueTx).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close stops the NOTIFY listener and closes the pool.
func (s *Store) Close() error {
	s.mu.Lock()
	l := s.listener
	s.listener, s.closed = nil, true
	s.mu.Unlock()
	if l != nil {
		l.stop()
	}
	s.pool.Close()
	return nil
}

// Ping reads the tasks table, so a health check fails when the database
// cannot be reached or read.
func (s *Store) Ping(ctx context.Context) error {
	var found bool
	err := s.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM tasks)").Scan(&found)
	return wrap("read the queue", err)
}

// wrap names the operation in an error.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", op, err)
}

// querier is what statements need from a pool, a connection or a transaction.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// dbNowMS is the database's clock in Unix milliseconds: the start of the
// current transaction, so every statement of one transaction agrees.
const dbNowMS = "floor(extract(epoch FROM now()) * 1000)::bigint"

// nowParam returns the SQL for "now" in a statement whose parameter $n is
// nowArg's value: the injected clock's time, or NULL for the database's.
func nowParam(n int) string {
	return fmt.Sprintf("coalesce($%d::bigint, %s)", n, dbNowMS)
}

// nowArg is the value of a nowParam: nil lets the database read its clock.
func (s *Store) nowArg() any {
	if s.now == nil {
		return nil
	}
	return s.now().UnixMilli()
}

// readNow returns the time the store goes by, inside q's transaction: the
// injected clock's, or the database's.
func (s *Store) readNow(ctx context.Context, q querier) (time.Time, error) {
	if s.now != nil {
		return s.now(), nil
	}
	var v int64
	if err := q.QueryRow(ctx, "SELECT "+dbNowMS).Scan(&v); err != nil {
		return time.Time{}, fmt.Errorf("read the database clock: %w", err)
	}
	return fromMS(v), nil
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

func nullMS(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

func nullInt(v int64) any {
	if v == 0 {
		return nil
	}
	return v
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// storable makes text PostgreSQL accepts: a text column holds neither NUL
// bytes nor invalid UTF-8, which a job's result or error may contain (SQLite
// stores them as they are). Both become U+FFFD, so writing an outcome never
// fails the whole exchange.
func storable(s string) string {
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// isUniqueViolation reports whether err is PostgreSQL's unique_violation.
func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}
