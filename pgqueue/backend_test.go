package pgqueue_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/internal/pgtest"
	"github.com/sluicehq/sluice/pgqueue"
	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/queue/queuetest"
)

// TestBackend runs the stores' shared behavioural suite, each subtest on its
// own database of the test server.
func TestBackend(t *testing.T) {
	open := func(tb testing.TB, url string, now func() time.Time) queue.Backend {
		tb.Helper()
		s, err := pgqueue.Open(context.Background(), url, pgqueue.NewOpts{Now: now})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { s.Close() })
		return s
	}
	queuetest.Run(t, queuetest.Harness{
		Open: func(tb testing.TB, now func() time.Time) queue.Backend {
			return open(tb, pgtest.URL(tb), now)
		},
		Again: func(tb testing.TB, b queue.Backend, now func() time.Time) queue.Backend {
			return open(tb, b.(*pgqueue.Store).Pool().Config().ConnString(), now)
		},
		SQL: func(_ testing.TB, b queue.Backend, query string) (int64, error) {
			var n int64
			err := b.(*pgqueue.Store).Pool().QueryRow(context.Background(), query).Scan(&n)
			if errors.Is(err, pgx.ErrNoRows) {
				return 0, nil
			}
			return n, err
		},
	})
}
