package queue_test

import (
	"context"
	"testing"
	"time"

	"github.com/sluicehq/sluice/queue"
)

// The workers registry's behaviour is in the shared suite (queuetest); what
// is left here is SQLite's own.

// register registers worker id with a stale limit of 10s and returns
// ClaimParams for it.
func register(tb testing.TB, s *queue.Store, id string) queue.ClaimParams {
	tb.Helper()
	if err := s.Register(context.Background(), queue.WorkerInfo{ID: id, Host: "h", PID: 1, Version: "test",
		Command: "drain", StaleAfter: 10 * time.Second}); err != nil {
		tb.Fatal(err)
	}
	p := params
	p.Worker, p.Registered = id, true
	return p
}

// TestTextLeaseOfNoWorkerComesBack: a running row of no registered worker
// whose lease is text (SQLite's columns take any type; text sorts after
// every number, so it never expires by comparison) is taken back by the
// next claim, charged nothing, and then runs like any other.
func TestTextLeaseOfNoWorkerComesBack(t *testing.T) {
	ctx := context.Background()
	s := mustStore(t, newClock())
	live := register(t, s, "live") // a registered worker's tasks have no lease: they stay
	held := mustEnqueue(t, s, queue.EnqueueParams{Job: "j", Queue: "mine"})
	live.Queues = []string{"mine"}
	exchange(t, s, nil, live)
	id := mustEnqueue(t, s, queue.EnqueueParams{Job: "j"})
	if _, err := s.DB().Write.Exec("UPDATE tasks SET state = 'running', worker = 'gone', lease_until = 'soon' WHERE id = ?", id); err != nil {
		t.Fatal(err)
	}
	other := params
	other.Queues = []string{"nothing here"} // recovers without claiming it back
	if res := exchange(t, s, nil, other); res.Recovered != 1 {
		t.Errorf("recovered %d; want the row with a text lease", res.Recovered)
	}
	got, err := s.Get(ctx, id)
	if err != nil || got.State != queue.Queued || got.Worker != "" || !got.LeaseUntil.IsZero() || got.Attempt != 0 || len(got.History) != 1 {
		t.Errorf("row with a text lease: %+v, %v; want queued, free, no attempt charged, the recovery in its history", got, err)
	}
	if got, _ := s.Get(ctx, held); got.State != queue.Running || got.Worker != "live" {
		t.Errorf("the registered worker's task is %s, worker %q; want still running, its own", got.State, got.Worker)
	}
	finish(t, s, nil)
	if got, err := s.Get(ctx, id); err != nil || got.State != queue.Succeeded {
		t.Errorf("task %d: %s, %v; want succeeded", id, got.State, err)
	}
}
