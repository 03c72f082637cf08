package pgqueue_test

import (
	"context"
	"errors"
	"strings"
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

// TestEnqueueRefusesFollowUps: this store does not write follow-up tasks
// yet, so it refuses them rather than drop them, alone and in a batch.
func TestEnqueueRefusesFollowUps(t *testing.T) {
	s := mustStore(t, newClock())
	ctx := context.Background()
	p := queue.EnqueueParams{Job: "x", Then: []queue.FollowUp{{Job: "y"}}}
	if _, err := s.Enqueue(ctx, p); !errors.Is(err, queue.ErrInvalid) || !strings.Contains(err.Error(), "not supported on PostgreSQL yet") {
		t.Errorf("Enqueue err = %v; want ErrInvalid saying follow-ups are not supported", err)
	}
	_, err := s.EnqueueMany(ctx, []queue.EnqueueParams{{Job: "ok"}, p})
	if !errors.Is(err, queue.ErrInvalid) || !strings.Contains(err.Error(), "task 1") {
		t.Errorf("EnqueueMany err = %v; want ErrInvalid naming task 1", err)
	}
	if counts, _ := s.Counts(ctx); counts[queue.Queued] != 0 {
		t.Errorf("queued = %d; want 0", counts[queue.Queued])
	}
}
