package pgqueue_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/pgqueue"
	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/queue/queuetest"
)

// TestEnqueueManyStoresEveryRow enqueues batches around the sizes where a
// batch is cut into several statements, and reads every task back.
func TestEnqueueManyStoresEveryRow(t *testing.T) {
	for _, n := range []int{1, 3, 1000, 1001, 2100} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			clk := newClock()
			s := mustStore(t, clk)
			ctx := context.Background()
			mustEnqueue(t, s, queue.EnqueueParams{Job: "before"})

			ps := queuetest.Batch(n, clk.Now())
			ids, err := s.EnqueueMany(ctx, ps)
			if err != nil {
				t.Fatal(err)
			}
			queuetest.CheckBatch(t, s, clk.Now(), ps, ids, 2)

			// The same through the caller's transaction, after the first batch.
			tx, err := s.Pool().Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			txIDs, err := s.EnqueueManyTx(ctx, tx, ps)
			if err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			queuetest.CheckBatch(t, s, clk.Now(), ps, txIDs, int64(2+n))
		})
	}
}

// TestEnqueueManyTxRollsBack checks that a batch enqueued in the caller's
// transaction disappears with it, statements of every size included.
func TestEnqueueManyTxRollsBack(t *testing.T) {
	clk := newClock()
	s := mustStore(t, clk)
	ctx := context.Background()
	tx, err := s.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.EnqueueManyTx(ctx, tx, queuetest.Batch(300, clk.Now())); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	counts, err := s.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts[queue.Queued] != 0 {
		t.Errorf("queued = %d after rollback; want 0", counts[queue.Queued])
	}
	// The next batch goes in (ids are not reused: sequences never roll back).
	ids, err := s.EnqueueMany(ctx, queuetest.Batch(3, clk.Now()))
	if err != nil || len(ids) != 3 {
		t.Fatalf("EnqueueMany after rollback = %v, %v; want 3 ids", ids, err)
	}
}

// failAtJob makes the database refuse the insert of the task with this
// job, as a constraint would. With queuetest.Batch(2500) it falls in the batch's
// second statement.
func failAtJob(t *testing.T, s *pgqueue.Store, job string) {
	t.Helper()
	execSQL(t, s, fmt.Sprintf(`CREATE FUNCTION fail_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.job = '%s' THEN RAISE EXCEPTION 'refused %s'; END IF;
    RETURN NEW;
END $$`, job, job))
	execSQL(t, s, "CREATE TRIGGER fail_at BEFORE INSERT ON tasks FOR EACH ROW EXECUTE FUNCTION fail_at()")
}

func countTasks(t *testing.T, s *pgqueue.Store) int {
	t.Helper()
	var n int
	if err := s.Pool().QueryRow(context.Background(), "SELECT count(*) FROM tasks").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestEnqueueManyFailsMidBatch checks that a batch whose second statement
// fails adds nothing and says why.
func TestEnqueueManyFailsMidBatch(t *testing.T) {
	clk := newClock()
	s := mustStore(t, clk)
	failAtJob(t, s, "job1200")
	_, err := s.EnqueueMany(context.Background(), queuetest.Batch(2500, clk.Now()))
	if err == nil || !strings.Contains(err.Error(), "refused job1200") {
		t.Fatalf("err = %v; want the database's refusal", err)
	}
	if n := countTasks(t, s); n != 0 {
		t.Errorf("%d tasks stored; want none", n)
	}
}

// TestEnqueueManyTxFailsMidBatch checks that a failed batch leaves the
// caller's transaction as it was: its own work commits, the batch's doesn't.
func TestEnqueueManyTxFailsMidBatch(t *testing.T) {
	clk := newClock()
	s := mustStore(t, clk)
	ctx := context.Background()
	failAtJob(t, s, "job1200")
	tx, err := s.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	kept, err := s.EnqueueTx(ctx, tx, queue.EnqueueParams{Job: "kept"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.EnqueueManyTx(ctx, tx, queuetest.Batch(2500, clk.Now())); err == nil || !strings.Contains(err.Error(), "refused job1200") {
		t.Fatalf("err = %v; want the database's refusal", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatalf("the caller's transaction broke: %v", err)
	}
	if n := countTasks(t, s); n != 1 {
		t.Errorf("%d tasks stored; want only the caller's task %d", n, kept)
	}
}

// slowAtJob makes the insert of the task with this job sleep, so that a
// test can cancel the batch while its second statement runs; it returns a
// channel closed once that statement is sleeping (seen in pg_stat_activity).
func slowAtJob(t *testing.T, s *pgqueue.Store, job string, sleep time.Duration) <-chan struct{} {
	t.Helper()
	execSQL(t, s, fmt.Sprintf(`CREATE FUNCTION slow_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.job = '%s' THEN PERFORM pg_sleep(%f); END IF;
    RETURN NEW;
END $$`, job, sleep.Seconds()))
	execSQL(t, s, "CREATE TRIGGER slow_at BEFORE INSERT ON tasks FOR EACH ROW EXECUTE FUNCTION slow_at()")
	sleeping := make(chan struct{})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { stop(); <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			var n int
			err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
				WHERE datname = current_database() AND wait_event = 'PgSleep'`).Scan(&n)
			if err == nil && n > 0 {
				close(sleeping)
				return
			}
			select {
			case <-ctx.Done():
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return sleeping
}

// TestEnqueueManyCancelledMidBatch cancels the context while the batch's
// second statement runs: nothing is stored, and the store enqueues after.
func TestEnqueueManyCancelledMidBatch(t *testing.T) {
	clk := newClock()
	s := mustStore(t, clk)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sleeping := slowAtJob(t, s, "job1100", time.Minute)
	go func() { <-sleeping; cancel() }()
	if _, err := s.EnqueueMany(ctx, queuetest.Batch(2500, clk.Now())); !errors.Is(err, context.Canceled) {
		t.Fatalf("EnqueueMany = %v; want context.Canceled (cancelled mid-batch)", err)
	}
	if n := countTasks(t, s); n != 0 {
		t.Errorf("%d tasks stored; want none", n)
	}
	execSQL(t, s, "DROP TRIGGER slow_at ON tasks")
	if _, err := s.EnqueueMany(context.Background(), queuetest.Batch(3, clk.Now())); err != nil {
		t.Fatalf("the store cannot enqueue after a cancelled batch: %v", err)
	}
}

// TestEnqueueManyTxCancelledMidBatch cancels the context while a batch in
// the caller's transaction runs: the batch goes, the caller's own work stays
// and its transaction goes on.
func TestEnqueueManyTxCancelledMidBatch(t *testing.T) {
	clk := newClock()
	s := mustStore(t, clk)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sleeping := slowAtJob(t, s, "job1100", 200*time.Millisecond)
	go func() { <-sleeping; cancel() }()
	bg := context.Background()
	tx, err := s.Pool().Begin(bg)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(bg)
	if _, err := s.EnqueueTx(bg, tx, queue.EnqueueParams{Job: "kept"}); err != nil {
		t.Fatal(err)
	}
	if ids, err := s.EnqueueManyTx(ctx, tx, queuetest.Batch(2500, clk.Now())); !errors.Is(err, context.Canceled) || ids != nil {
		t.Fatalf("EnqueueManyTx = %d ids, %v; want none and context.Canceled", len(ids), err)
	}
	if _, err := s.EnqueueTx(bg, tx, queue.EnqueueParams{Job: "after"}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(bg); err != nil {
		t.Fatalf("the caller's transaction broke: %v", err)
	}
	rows, err := s.Pool().Query(bg, "SELECT job FROM tasks ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(jobs, []string{"kept", "after"}) {
		t.Errorf("stored %d tasks %.5v; want [kept after]", len(jobs), jobs)
	}
}
