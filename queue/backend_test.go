package queue_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/queue/queuetest"
	"github.com/sluicehq/sluice/sqlitewal"
)

// TestBackend runs the stores' shared behavioural suite on SQLite files.
// Its stores' writers fire triggers, as mustStore's do: the row rules then
// check the Store's own writes too.
func TestBackend(t *testing.T) {
	opts := sqlitewal.Options{Migrations: queue.Migrations, Sync: sqlitewal.Sync(*syncMode)}
	open := func(tb testing.TB, path string, now func() time.Time) queue.Backend {
		tb.Helper()
		db, err := sqlitewal.Open(context.Background(), path, opts)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { db.Close() })
		return queue.New(db, queue.NewOpts{Now: now})
	}
	queuetest.Run(t, queuetest.Harness{
		Open: func(tb testing.TB, now func() time.Time) queue.Backend {
			return open(tb, filepath.Join(tb.TempDir(), "q.db"), now)
		},
		Again: func(tb testing.TB, b queue.Backend, now func() time.Time) queue.Backend {
			return open(tb, b.(*queue.Store).DB().Path, now)
		},
		SQL: func(_ testing.TB, b queue.Backend, query string) (int64, error) {
			var n int64
			err := b.(*queue.Store).DB().Write.QueryRow(query).Scan(&n)
			if errors.Is(err, sql.ErrNoRows) {
				return 0, nil
			}
			return n, err
		},
	})
}
