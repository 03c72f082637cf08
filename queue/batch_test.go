package queue_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/queue"
)

// batchOf returns n tasks whose every option differs from row to row, so a
// parameter bound to the wrong row or column shows up in the stored task.
func batchOf(n int, now time.Time) []queue.EnqueueParams {
	ps := make([]queue.EnqueueParams, n)
	for i := range ps {
		ps[i] = queue.EnqueueParams{
			Job:         fmt.Sprintf("job%d", i),
			Payload:     json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)),
			Queue:       []string{"", "q1", "q2"}[i%3],
			Priority:    i % 7,
			MaxAttempts: i % 4,
			Timeout:     time.Duration(i%5) * time.Second,
			Group:       []string{"", "g"}[i%2],
		}
		if i%2 == 1 {
			ps[i].RunAt = now.Add(time.Duration(i) * time.Minute)
		}
	}
	return ps
}

// checkBatch checks that ids are consecutive from first and that each task
// was stored with exactly its own options.
func checkBatch(t *testing.T, s *queue.Store, now time.Time, ps []queue.EnqueueParams, ids []int64, first int64) {
	t.Helper()
	if len(ids) != len(ps) {
		t.Fatalf("got %d ids for %d tasks", len(ids), len(ps))
	}
	for i, id := range ids {
		if id != first+int64(i) {
			t.Fatalf("ids[%d] = %d; want %d (consecutive from %d)", i, id, first+int64(i), first)
		}
		got, err := s.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		want := ps[i]
		wantQueue, wantRunAt := want.Queue, want.RunAt
		if wantQueue == "" {
			wantQueue = queue.DefaultQueue
		}
		if wantRunAt.IsZero() {
			wantRunAt = now
		}
		if got.Job != want.Job || string(got.Payload) != string(want.Payload) || got.Queue != wantQueue ||
			got.Priority != want.Priority || !got.RunAt.Equal(wantRunAt) || !got.CreatedAt.Equal(now) ||
			got.MaxAttempts != want.MaxAttempts || got.Timeout != want.Timeout || got.Group != want.Group ||
			got.State != queue.Queued || got.Attempt != 0 {
			t.Fatalf("task %d (id %d) = %+v\nwant %+v queued at %v", i, id, got, want, wantRunAt)
		}
	}
}

// TestEnqueueManyStoresEveryRow enqueues batches around the sizes where a
// batch is cut into several statements, and reads every task back.
func TestEnqueueManyStoresEveryRow(t *testing.T) {
	for _, n := range []int{1, 2, 3, 127, 128, 129, 255, 300} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			clk := newClock()
			s := mustStore(t, clk)
			ctx := context.Background()
			mustEnqueue(t, s, queue.EnqueueParams{Job: "before"})

			ps := batchOf(n, clk.Now())
			ids, err := s.EnqueueMany(ctx, ps)
			if err != nil {
				t.Fatal(err)
			}
			checkBatch(t, s, clk.Now(), ps, ids, 2)

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
			checkBatch(t, s, clk.Now(), ps, txIDs, int64(2+n))
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
	if _, err := s.EnqueueManyTx(ctx, tx, batchOf(300, clk.Now())); err != nil {
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
	ids, err := s.EnqueueMany(ctx, batchOf(3, clk.Now()))
	if err != nil || ids[0] != 1 {
		t.Fatalf("EnqueueMany after rollback = %v, %v; want ids from 1", ids, err)
	}
}

// TestEnqueueManyBadTaskAddsNothing checks that one bad task in a large
// batch, past the first statement's rows, fails the whole batch by name.
func TestEnqueueManyBadTaskAddsNothing(t *testing.T) {
	clk := newClock()
	s := mustStore(t, clk)
	ctx := context.Background()
	ps := batchOf(300, clk.Now())
	ps[200].Payload = json.RawMessage(`{"i":`)
	_, err := s.EnqueueMany(ctx, ps)
	if err == nil || !strings.Contains(err.Error(), "task 200") || !strings.Contains(err.Error(), "payload is not valid JSON") {
		t.Fatalf("err = %v; want one naming task 200 and its payload", err)
	}
	var n int
	if err := s.DB().Read.QueryRow("SELECT count(*) FROM tasks").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d tasks stored; want none", n)
	}
}

// TestEnqueueManyCancelled checks that a cancelled context stops a batch
// with nothing stored and the writer free.
func TestEnqueueManyCancelled(t *testing.T) {
	clk := newClock()
	s := mustStore(t, clk)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.EnqueueMany(ctx, batchOf(300, clk.Now())); err == nil {
		t.Fatal("EnqueueMany with a cancelled context succeeded")
	}
	if _, err := s.EnqueueMany(context.Background(), batchOf(1, clk.Now())); err != nil {
		t.Fatalf("writer not free after a cancelled batch: %v", err)
	}
	var n int
	if err := s.DB().Read.QueryRowContext(context.Background(), "SELECT count(*) FROM tasks").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("%d tasks stored; want only the later one", n)
	}
}
