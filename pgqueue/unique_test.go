package pgqueue_test

import (
	"context"
	"testing"

	"github.com/sluicehq/sluice/queue"
)

// TestEnqueueUniqueTx: within the caller's transaction a unique key is held
// by the transaction's own insert, and the task lives and dies with it. The
// rest of unique keys' behaviour is in the shared suite (queuetest).
func TestEnqueueUniqueTx(t *testing.T) {
	ctx := context.Background()
	s := mustStore(t, newClock())
	tx, err := s.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	a, err := s.EnqueueUniqueTx(ctx, tx, queue.EnqueueParams{Job: "x", UniqueKey: "tx"})
	if err != nil || a.Duplicate {
		t.Fatalf("a = %+v, %v", a, err)
	}
	b, err := s.EnqueueUniqueTx(ctx, tx, queue.EnqueueParams{Job: "x", UniqueKey: "tx"})
	if err != nil || !b.Duplicate || b.ID != a.ID {
		t.Fatalf("b = %+v, %v; want duplicate of %d", b, err, a.ID)
	}
	tx.Rollback(ctx)
	if r, err := s.EnqueueUnique(ctx, queue.EnqueueParams{Job: "x", UniqueKey: "tx"}); err != nil || r.Duplicate {
		t.Errorf("after rollback: %+v, %v; want a new task (the key went with the transaction)", r, err)
	}
}
