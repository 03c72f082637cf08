package pgqueue_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/pgtest"
	"github.com/sluicehq/sluice/pgqueue"
	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/queue/queuetest"
	"github.com/sluicehq/sluice/schedule"
)

// TestMain stops the private PostgreSQL server pgtest may start.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// clock is a settable time source for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newClock() *clock { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

// mustStore opens a store on a fresh database with the given clock (nil:
// the database's).
func mustStore(tb testing.TB, clk *clock) *pgqueue.Store {
	tb.Helper()
	return openStore(tb, pgtest.URL(tb), clk)
}

// openStore opens another store on the database at url.
func openStore(tb testing.TB, url string, clk *clock) *pgqueue.Store {
	tb.Helper()
	var opts pgqueue.NewOpts
	if clk != nil {
		opts.Now = clk.Now
	}
	s, err := pgqueue.Open(context.Background(), url, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// execSQL runs a statement on the store's database, as another program would.
func execSQL(tb testing.TB, s *pgqueue.Store, sql string, args ...any) {
	tb.Helper()
	if _, err := s.Pool().Exec(context.Background(), sql, args...); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
}

// insertID runs an INSERT ... RETURNING id.
func insertID(tb testing.TB, s *pgqueue.Store, sql string, args ...any) int64 {
	tb.Helper()
	var id int64
	if err := s.Pool().QueryRow(context.Background(), sql, args...).Scan(&id); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
	return id
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

// noon is a round start for schedule tests.
var noon = time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)

func every10(name string) queue.ScheduleParams {
	return queue.ScheduleParams{Name: name, Job: "tick", Payload: []byte(`{"n":1}`),
		Spec: schedule.Spec{Type: schedule.Minutes, Every: 10, Start: noon}}
}
