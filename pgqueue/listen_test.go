package pgqueue_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/internal/pgtest"
	"github.com/sluicehq/sluice/pgqueue"
	"github.com/sluicehq/sluice/queue"
)

// waitClosed fails unless ch closes within a generous deadline (a
// notification crosses the server in milliseconds).
func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("Enqueued not closed within 10s of %s", what)
	}
}

// TestEnqueuedHearsOtherProcesses: a store's Enqueued closes when another
// store (another pool, as another machine has) or a plain SQL client
// commits tasks, through LISTEN/NOTIFY.
func TestEnqueuedHearsOtherProcesses(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	producer, runner := openStore(t, url, nil), openStore(t, url, nil)
	// The first channel closes when the listener is up: tasks may have come
	// before it listened.
	waitClosed(t, runner.Enqueued(), "the listener starting")

	ch := runner.Enqueued()
	mustEnqueue(t, producer, queue.EnqueueParams{Job: "x"})
	waitClosed(t, ch, "another store's Enqueue")

	ch = runner.Enqueued()
	tx, err := producer.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := producer.EnqueueTx(ctx, tx, queue.EnqueueParams{Job: "y"}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, ch, "another store's EnqueueTx commit")

	ch = runner.Enqueued()
	client, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close(ctx)
	if _, err := client.Exec(ctx, "INSERT INTO tasks (job) VALUES ('from_sql')"); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, ch, "a plain SQL insert")
}

// TestCloseStopsTheListener: Close ends the listener's connection (the
// server sees it go), and Enqueued on a closed store starts none.
func TestCloseStopsTheListener(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	s, watcher := openStore(t, url, nil), openStore(t, url, nil)
	listeners := func() int {
		t.Helper()
		var n int
		err := watcher.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND query = 'LISTEN `+pgqueue.NotifyChannel+`'`).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	waitClosed(t, s.Enqueued(), "the listener starting")
	if n := listeners(); n != 1 {
		t.Fatalf("%d listening sessions; want 1", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_ = s.Enqueued()
	deadline := time.Now().Add(10 * time.Second)
	for listeners() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the listening session outlived Close by 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
