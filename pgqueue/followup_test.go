package pgqueue_test

import (
	"context"
	"testing"

	"github.com/sluicehq/sluice/queue"
)

// Follow-up tasks' behaviour is in the shared suite (queuetest); what is
// left here needs PostgreSQL's own triggers or its SQL contract.

// TestFollowUpsShareTheOutcomeTransaction: the follow-ups are written by
// the outcome's own statement: when it fails, neither the outcome nor its
// follow-ups are stored, so no crash can leave one without the other.
func TestFollowUpsShareTheOutcomeTransaction(t *testing.T) {
	s := mustStore(t, newClock())
	ctx := context.Background()
	id := mustEnqueue(t, s, queue.EnqueueParams{Job: "first", Then: []queue.FollowUp{
		{Job: "next"}, {Job: "hook", When: queue.WhenDone},
	}})
	exchange(t, s, nil, params)
	// A trigger that fails the hook's insert fails the whole exchange.
	execSQL(t, s, `CREATE FUNCTION no_hooks() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'no hooks today'; END $$`)
	execSQL(t, s, `CREATE TRIGGER no_hooks BEFORE INSERT ON tasks FOR EACH ROW WHEN (NEW.job = 'hook') EXECUTE FUNCTION no_hooks()`)
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

// TestFollowUpsContractInsert: the documented PostgreSQL insert with
// follow_ups, as a client of another language runs it, chains a task whose
// payload is kept as written.
func TestFollowUpsContractInsert(t *testing.T) {
	ctx := context.Background()
	s := mustStore(t, nil)
	var id int64
	err := s.Pool().QueryRow(ctx, pgContract(t)["followups"], "first", nil, nil, nil, nil, nil, nil, nil,
		`[{"job":"next","payload":{"b":1,  "a":2}},{"job":"hook","when":"done"}]`).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	exchange(t, s, nil, params)
	exchange(t, s, []queue.Outcome{{ID: id, Attempt: 1, Kind: queue.Succeed, Result: []byte(`1`)}}, queue.ClaimParams{Worker: params.Worker})
	next, err := s.List(ctx, queue.ListParams{Job: "next"})
	if err != nil || len(next) != 1 {
		t.Fatalf("chain steps = %+v, %v; want one", next, err)
	}
	if got, err := s.Get(ctx, next[0].ID); err != nil || string(got.Payload) != `{"b":1,  "a":2}` {
		t.Errorf("chain step = %+v, %v; want next with its payload as written", got, err)
	}
	if hooks, err := s.List(ctx, queue.ListParams{Job: "hook"}); err != nil || len(hooks) != 1 {
		t.Errorf("%d hooks, %v; want 1", len(hooks), err)
	}
}
