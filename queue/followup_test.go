package queue_test

import (
	"context"
	"testing"

	"github.com/sluicehq/sluice/queue"
)

// Follow-up tasks' behaviour is in the shared suite (queuetest); what is
// left here needs SQLite's own triggers.

// TestFollowUpsShareTheOutcomeTransaction: the follow-ups are written by
// the outcome's own transaction: when that transaction fails, neither the
// outcome nor its follow-ups are stored, so no crash can leave one without
// the other.
func TestFollowUpsShareTheOutcomeTransaction(t *testing.T) {
	s := mustStore(t, newClock())
	ctx := context.Background()
	id := mustEnqueue(t, s, queue.EnqueueParams{Job: "first", Then: []queue.FollowUp{
		{Job: "next"}, {Job: "hook", When: queue.WhenDone},
	}})
	exchange(t, s, nil, params)
	// A trigger that fails the hook's insert fails the whole exchange.
	if _, err := s.DB().Write.ExecContext(ctx, `CREATE TRIGGER no_hooks BEFORE INSERT ON tasks WHEN NEW.job = 'hook'
		BEGIN SELECT RAISE(ABORT, 'no hooks today'); END`); err != nil {
		t.Fatal(err)
	}
	out := []queue.Outcome{{ID: id, Attempt: 1, Kind: queue.Succeed}}
	if _, err := s.Exchange(ctx, out, queue.ClaimParams{Worker: params.Worker}); err == nil {
		t.Fatal("exchange succeeded although its follow-up could not be inserted")
	}
	if task, err := s.Get(ctx, id); err != nil || task.State != queue.Running {
		t.Errorf("task is %s, %v; want still running (the outcome rolled back with its follow-ups)", task.State, err)
	}
	if next, err := s.List(ctx, queue.ListParams{Job: "next"}); err != nil || len(next) != 0 {
		t.Errorf("%d chain steps stored by a failed exchange, %v", len(next), err)
	}
}
