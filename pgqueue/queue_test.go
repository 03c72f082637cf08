package pgqueue_test

import (
	"context"
	"testing"

	"github.com/sluicehq/sluice/queue"
)

func TestEnqueueTxFollowsCallersTransaction(t *testing.T) {
	s := mustStore(t, newClock())
	ctx := context.Background()
	tx, err := s.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.EnqueueTx(ctx, tx, queue.EnqueueParams{Job: "x"}); err != nil {
		t.Fatal(err)
	}
	tx.Rollback(ctx)
	tx, _ = s.Pool().Begin(ctx)
	id, err := s.EnqueueTx(ctx, tx, queue.EnqueueParams{Job: "kept"})
	if err != nil || tx.Commit(ctx) != nil {
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
