package queue_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ncruces/go-sqlite3"

	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/queue/queuetest"
	"github.com/sluicehq/sluice/sqlitewal"
)

// TestEnqueueManyStoresEveryRow enqueues batches around the sizes where a
// batch is cut into several statements, and reads every task back.
func TestEnqueueManyStoresEveryRow(t *testing.T) {
	for _, n := range []int{1, 2, 3, 127, 128, 129, 255, 300} {
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
			tx, err := s.DB().Write.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			txIDs, err := s.EnqueueManyTx(ctx, tx, ps)
			if err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
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
	tx, err := s.DB().Write.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.EnqueueManyTx(ctx, tx, queuetest.Batch(300, clk.Now())); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	counts, err := s.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts[queue.Queued] != 0 {
		t.Errorf("queued = %d after rollback; want 0", counts[queue.Queued])
	}
	// The writer is free and the next batch starts at id 1 again.
	ids, err := s.EnqueueMany(ctx, queuetest.Batch(3, clk.Now()))
	if err != nil || ids[0] != 1 {
		t.Fatalf("EnqueueMany after rollback = %v, %v; want ids from 1", ids, err)
	}
}

// failAtJob makes SQLite refuse the insert of the task with this job, as a
// full disk or a constraint would: the batch fails in its second statement.
func failAtJob(t *testing.T, s *queue.Store, job string) {
	t.Helper()
	_, err := s.DB().Write.Exec(fmt.Sprintf(`CREATE TRIGGER fail_at BEFORE INSERT ON tasks WHEN NEW.job = '%s'
		BEGIN SELECT RAISE(ABORT, 'refused %s'); END`, job, job))
	if err != nil {
		t.Fatal(err)
	}
}

func countTasks(t *testing.T, s *queue.Store) int {
	t.Helper()
	var n int
	if err := s.DB().Read.QueryRow("SELECT count(*) FROM tasks").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// checkWriterFree checks that the write lock was released: another
// connection to the file, as another process would, can write.
func checkWriterFree(t *testing.T, s *queue.Store) {
	t.Helper()
	other, err := sqlitewal.Open(context.Background(), s.DB().Path, sqlitewal.Options{Migrations: queue.Migrations})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Write.Exec("INSERT INTO tasks (job) VALUES ('other')"); err != nil {
		t.Fatalf("the write lock is still held: %v", err)
	}
}

// TestEnqueueManyFailsMidBatch checks that a batch whose second statement
// fails adds nothing, says why, and leaves the writer free.
func TestEnqueueManyFailsMidBatch(t *testing.T) {
	clk := newClock()
	s := mustStore(t, clk)
	failAtJob(t, s, "job200")
	_, err := s.EnqueueMany(context.Background(), queuetest.Batch(300, clk.Now()))
	if err == nil || !strings.Contains(err.Error(), "refused job200") {
		t.Fatalf("err = %v; want SQLite's refusal", err)
	}
	if n := countTasks(t, s); n != 0 {
		t.Errorf("%d tasks stored; want none", n)
	}
	checkWriterFree(t, s)
}

// TestEnqueueManyTxFailsMidBatch checks that a failed batch leaves the
// caller's transaction as it was: its own work commits, the batch's doesn't.
func TestEnqueueManyTxFailsMidBatch(t *testing.T) {
	clk := newClock()
	s := mustStore(t, clk)
	ctx := context.Background()
	failAtJob(t, s, "job200")
	tx, err := s.DB().Write.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	kept, err := s.EnqueueTx(ctx, tx, queue.EnqueueParams{Job: "kept"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.EnqueueManyTx(ctx, tx, queuetest.Batch(300, clk.Now())); err == nil || !strings.Contains(err.Error(), "refused job200") {
		t.Fatalf("err = %v; want SQLite's refusal", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("the caller's transaction broke: %v", err)
	}
	if n := countTasks(t, s); n != 1 {
		t.Errorf("%d tasks stored; want only the caller's task %d", n, kept)
	}
}

// cancelAtJob makes the insert of the task with this job call cancel, in
// the middle of a batch's second statement. The trigger calls a function
// only the writer connection has: drop it before another connection writes.
func cancelAtJob(t *testing.T, s *queue.Store, job string, cancel context.CancelFunc) {
	t.Helper()
	err := s.DB().Raw(context.Background(), func(c *sqlitewal.Conn) error {
		return c.CreateFunction("cancel_batch", 0, sqlite3.INNOCUOUS, func(fc sqlite3.Context, _ ...sqlite3.Value) {
			cancel()
			fc.ResultInt(0)
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().Write.Exec(fmt.Sprintf(`CREATE TRIGGER cancel_at AFTER INSERT ON tasks WHEN NEW.job = '%s'
		BEGIN SELECT cancel_batch(); END`, job)); err != nil {
		t.Fatal(err)
	}
}

func dropCancelTrigger(t *testing.T, s *queue.Store) {
	t.Helper()
	if _, err := s.DB().Write.Exec("DROP TRIGGER cancel_at"); err != nil {
		t.Fatal(err)
	}
}

// TestEnqueueManyCancelledMidBatch cancels the context while the batch's
// second statement runs: nothing is stored and the writer is free.
func TestEnqueueManyCancelledMidBatch(t *testing.T) {
	clk := newClock()
	s := mustStore(t, clk)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cancelAtJob(t, s, "job130", cancel)
	if _, err := s.EnqueueMany(ctx, queuetest.Batch(300, clk.Now())); err == nil {
		t.Fatal("EnqueueMany succeeded though its context was cancelled mid-batch")
	}
	if n := countTasks(t, s); n != 0 {
		t.Errorf("%d tasks stored; want none", n)
	}
	dropCancelTrigger(t, s)
	checkWriterFree(t, s)
	if _, err := s.EnqueueMany(context.Background(), queuetest.Batch(3, clk.Now())); err != nil {
		t.Fatalf("the store cannot enqueue after a cancelled batch: %v", err)
	}
}

// TestEnqueueManyTxCancelledMidBatch cancels the context while a batch in
// the caller's transaction runs. SQLite rolls back a whole transaction when
// a statement in it is interrupted; the batch must go, the caller's own work
// must stay.
func TestEnqueueManyTxCancelledMidBatch(t *testing.T) {
	clk := newClock()
	s := mustStore(t, clk)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cancelAtJob(t, s, "job130", cancel)
	tx, err := s.DB().Write.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := s.EnqueueTx(context.Background(), tx, queue.EnqueueParams{Job: "kept"}); err != nil {
		t.Fatal(err)
	}
	if ids, err := s.EnqueueManyTx(ctx, tx, queuetest.Batch(300, clk.Now())); !errors.Is(err, context.Canceled) || ids != nil {
		t.Fatalf("EnqueueManyTx = %d ids, %v; want none and context.Canceled", len(ids), err)
	}
	if _, err := s.EnqueueTx(context.Background(), tx, queue.EnqueueParams{Job: "after"}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("the caller's transaction broke: %v", err)
	}
	var jobs []string
	rows, err := s.DB().Read.Query("SELECT job FROM tasks ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var j string
		if err := rows.Scan(&j); err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, j)
	}
	if !slices.Equal(jobs, []string{"kept", "after"}) {
		t.Errorf("stored %d tasks %.5v; want [kept after]", len(jobs), jobs)
	}
}
