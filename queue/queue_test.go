package queue_test

import (
	"context"
	"errors"
	"flag"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/queue/queuetest"
	"github.com/sluicehq/sluice/sqlitewal"
)

// clock is a settable time source for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newClock() *clock { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

// syncMode lets benchmarks compare SLUICE_SYNC's modes: go test -bench . -sluice.sync normal
var syncMode = flag.String("sluice.sync", "full", "synchronous mode of the test databases: full or normal")

// mustStore opens a store on a fresh file with the given clock. Unlike
// queue.Open, its writer fires triggers: the row rules then check the
// Store's own writes too, and tests can add triggers that fail a statement.
func mustStore(tb testing.TB, clk *clock) *queue.Store {
	tb.Helper()
	return openStore(tb, clk, sqlitewal.Options{Migrations: queue.Migrations, Sync: sqlitewal.Sync(*syncMode)})
}

// openStore opens a store on a fresh file with the given clock and options.
func openStore(tb testing.TB, clk *clock, opts sqlitewal.Options) *queue.Store {
	tb.Helper()
	db, err := sqlitewal.Open(context.Background(), filepath.Join(tb.TempDir(), "q.db"), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return queue.New(db, queue.NewOpts{Now: clk.Now})
}

var params = queue.ClaimParams{
	Worker: "w1", Limit: 10, DefaultTimeout: time.Minute, DefaultMaxAttempts: 3, LeaseMargin: 30 * time.Second,
}

// Helpers shared with the suite.
var (
	mustEnqueue = queuetest.MustEnqueue
	exchange    = queuetest.Exchange
	ids         = queuetest.IDs
	finish      = queuetest.Finish
)

func TestEnqueueTxFollowsCallersTransaction(t *testing.T) {
	s := mustStore(t, newClock())
	ctx := context.Background()
	tx, err := s.DB().Write.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.EnqueueTx(ctx, tx, queue.EnqueueParams{Job: "x"}); err != nil {
		t.Fatal(err)
	}
	tx.Rollback()
	tx, _ = s.DB().Write.BeginTx(ctx, nil)
	id, err := s.EnqueueTx(ctx, tx, queue.EnqueueParams{Job: "kept"})
	if err != nil || tx.Commit() != nil {
		t.Fatal(err)
	}
	counts, _ := s.Counts(ctx)
	if counts[queue.Queued] != 1 {
		t.Fatalf("queued = %d; want 1 (the rolled-back task must not exist)", counts[queue.Queued])
	}
	if got, _ := s.Get(ctx, id); got.Job != "kept" {
		t.Errorf("job = %q; want kept", got.Job)
	}
}

// TestExchangeWhileLocked: an exchange that cannot get the write lock before
// its context ends fails with an error that names both causes and changes
// nothing; the next exchange works.
func TestExchangeWhileLocked(t *testing.T) {
	ctx := context.Background()
	s := mustStore(t, newClock())
	id := mustEnqueue(t, s, queue.EnqueueParams{Job: "j"})
	other, err := sqlitewal.Open(ctx, s.DB().Path, sqlitewal.Options{Migrations: queue.Migrations})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tx, err := other.Write.BeginTx(ctx, nil) // holds the write lock
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err = s.Exchange(short, nil, params)
	if !errors.Is(err, sqlite3.BUSY) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Exchange while locked = %v, want BUSY and DeadlineExceeded", err)
	}
	tx.Rollback()
	if res := exchange(t, s, nil, params); len(res.Claimed) != 1 || res.Claimed[0].ID != id {
		t.Errorf("claimed %+v, want task %d", res.Claimed, id)
	}
}
