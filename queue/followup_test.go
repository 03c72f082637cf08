package queue_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/sluicehq/sluice/queue"
)

// followUps lists the tasks of job, oldest first.
func followUps(t *testing.T, s *queue.Store, job string) []queue.Task {
	t.Helper()
	ts, err := s.List(context.Background(), queue.ListParams{Job: job})
	if err != nil {
		t.Fatal(err)
	}
	var out []queue.Task
	for i := len(ts) - 1; i >= 0; i-- { // List is newest first
		got, err := s.Get(context.Background(), ts[i].ID)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, got)
	}
	return out
}

// hookTask is the "task" key a hook's payload receives.
type hookTask struct {
	ID     int64           `json:"id"`
	Job    string          `json:"job"`
	State  string          `json:"state"`
	Result json.RawMessage `json:"result"`
	Error  *string         `json:"error"`
	Group  *string         `json:"group"`
}

func hookOf(t *testing.T, task queue.Task) (extra string, ht hookTask) {
	t.Helper()
	var p struct {
		Extra string   `json:"extra"`
		Task  hookTask `json:"task"`
	}
	if err := json.Unmarshal(task.Payload, &p); err != nil {
		t.Fatalf("hook payload %s: %v", task.Payload, err)
	}
	return p.Extra, p.Task
}

// claimN is params (leases of a minute and more) claiming n tasks.
func claimN(n int) queue.ClaimParams {
	p := params
	p.Limit = n
	return p
}

// withFollowUps is a task with a chain step and a hook.
func withFollowUps(job string) queue.EnqueueParams {
	return queue.EnqueueParams{Job: job, Group: "g1", Then: []queue.FollowUp{
		{Job: "next", Payload: json.RawMessage(`[1,2]`), Queue: "q2", Priority: 3, MaxAttempts: 2,
			Then: []queue.FollowUp{{Job: "third"}}},
		{Job: "hook", When: queue.WhenDone, Payload: json.RawMessage(`{"extra":"x"}`)},
	}}
}

func TestFollowUpsAfterSuccess(t *testing.T) {
	clk := newClock()
	s := mustStore(t, clk)
	id := mustEnqueue(t, s, withFollowUps("first"))
	exchange(t, s, nil, claimN(1))
	out := []queue.Outcome{{ID: id, Attempt: 1, Kind: queue.Succeed, Result: []byte(`{"n":7}`)}}
	res := exchange(t, s, out, queue.ClaimParams{Worker: "w1"})
	if len(res.Stale) != 0 {
		t.Fatalf("stale: %+v", res.Stale)
	}
	next := followUps(t, s, "next")
	if len(next) != 1 || string(next[0].Payload) != `[1,2]` || next[0].Queue != "q2" || next[0].Priority != 3 ||
		next[0].MaxAttempts != 2 || next[0].State != queue.Queued || !next[0].RunAt.Equal(clk.Now()) {
		t.Fatalf("chain step = %+v", next)
	}
	hooks := followUps(t, s, "hook")
	if len(hooks) != 1 {
		t.Fatalf("%d hooks; want 1", len(hooks))
	}
	extra, ht := hookOf(t, hooks[0])
	if extra != "x" || ht.ID != id || ht.Job != "first" || ht.State != "succeeded" || string(ht.Result) != `{"n":7}` ||
		ht.Error != nil || ht.Group == nil || *ht.Group != "g1" {
		t.Errorf("hook payload = %s", hooks[0].Payload)
	}
	// The chain goes on: the second step's success enqueues the third, once.
	if len(followUps(t, s, "third")) != 0 {
		t.Fatal("third step enqueued before the second ran")
	}
	claimed := exchange(t, s, nil, func() queue.ClaimParams { p := claimN(10); p.Queues = []string{"q2"}; return p }()).Claimed
	if len(claimed) != 1 || claimed[0].ID != next[0].ID {
		t.Fatalf("claimed %+v; want the chain step", claimed)
	}
	out = []queue.Outcome{{ID: next[0].ID, Attempt: 1, Kind: queue.Succeed}, {ID: next[0].ID, Attempt: 1, Kind: queue.Succeed}}
	exchange(t, s, out, queue.ClaimParams{Worker: "w1"}) // the duplicate is stale: no second follow-up
	if n := len(followUps(t, s, "third")); n != 1 {
		t.Errorf("%d third steps; want exactly 1", n)
	}
}

func TestFollowUpsAfterFailureAndCancel(t *testing.T) {
	clk := newClock()
	s := mustStore(t, clk)
	ctx := context.Background()
	failing := mustEnqueue(t, s, withFollowUps("failing"))
	byWorker := mustEnqueue(t, s, withFollowUps("cancelled-by-worker"))
	exchange(t, s, nil, claimN(2))

	// A failed attempt that will be retried enqueues nothing.
	retry := []queue.Outcome{{ID: failing, Attempt: 1, Kind: queue.Fail, Error: "boom", RetryAt: clk.Now()}}
	exchange(t, s, retry, queue.ClaimParams{Worker: "w1"})
	if n := len(followUps(t, s, "hook")); n != 0 {
		t.Fatalf("%d hooks after a retried failure; want 0", n)
	}
	claimed := exchange(t, s, nil, claimN(1)).Claimed
	if len(claimed) != 1 || claimed[0].ID != failing {
		t.Fatalf("claimed %+v", claimed)
	}
	final := []queue.Outcome{
		{ID: failing, Attempt: 2, Kind: queue.Fail, Error: "fatal"},
		{ID: byWorker, Attempt: 1, Kind: queue.Cancel, Error: "stopped"},
	}
	if r := exchange(t, s, final, queue.ClaimParams{Worker: "w1"}); len(r.Stale) > 0 {
		t.Fatalf("stale %+v", r.Stale)
	}

	// An operator's cancel of a queued task runs its hook too.
	queued := mustEnqueue(t, s, withFollowUps("cancelled-queued"))
	if _, err := s.Cancel(ctx, []int64{queued}); err != nil {
		t.Fatal(err)
	}

	if n := len(followUps(t, s, "next")); n != 0 {
		t.Errorf("%d chain steps after failures and cancels; want 0", n)
	}
	got := map[int64]hookTask{}
	for _, h := range followUps(t, s, "hook") {
		_, ht := hookOf(t, h)
		if _, dup := got[ht.ID]; dup {
			t.Errorf("two hooks for task %d", ht.ID)
		}
		got[ht.ID] = ht
	}
	want := map[int64]string{failing: "failed", byWorker: "cancelled", queued: "cancelled"}
	if len(got) != len(want) {
		t.Errorf("hooks for %v; want %v", got, want)
	}
	for id, state := range want {
		if ht := got[id]; ht.State != state || ht.Error == nil {
			t.Errorf("hook of task %d = %+v; want state %s with an error", id, ht, state)
		}
	}
	if ht := got[failing]; ht.Error == nil || *ht.Error != "fatal" {
		t.Errorf("failed task's hook error = %v; want fatal", ht.Error)
	}
}

// The follow-ups are written by the outcome's own transaction: when that
// transaction fails, neither the outcome nor its follow-ups are stored, so no
// crash can leave one without the other.
func TestFollowUpsShareTheOutcomeTransaction(t *testing.T) {
	clk := newClock()
	s := mustStore(t, clk)
	ctx := context.Background()
	id := mustEnqueue(t, s, withFollowUps("first"))
	exchange(t, s, nil, claimN(1))
	// A trigger that fails the hook's insert fails the whole exchange.
	if _, err := s.DB().Write.ExecContext(ctx, `CREATE TRIGGER no_hooks BEFORE INSERT ON tasks WHEN NEW.job = 'hook'
		BEGIN SELECT RAISE(ABORT, 'no hooks today'); END`); err != nil {
		t.Fatal(err)
	}
	out := []queue.Outcome{{ID: id, Attempt: 1, Kind: queue.Succeed}}
	if _, err := s.Exchange(ctx, out, queue.ClaimParams{Worker: "w1"}); err == nil {
		t.Fatal("exchange succeeded although its follow-up could not be inserted")
	}
	if task, _ := s.Get(ctx, id); task.State != queue.Running {
		t.Errorf("task is %s; want still running (the outcome rolled back with its follow-ups)", task.State)
	}
	if n := len(followUps(t, s, "next")); n != 0 {
		t.Errorf("%d chain steps stored by a failed exchange", n)
	}
}

func TestFollowUpsRejectBadSpecs(t *testing.T) {
	s := mustStore(t, newClock())
	for _, then := range [][]queue.FollowUp{
		{{Job: ""}},
		{{Job: "x", When: "later"}},
		{{Job: "x", When: queue.WhenDone, Payload: json.RawMessage(`[1]`)}},
		{{Job: "x", Then: []queue.FollowUp{{Job: "y", Priority: -1}}}},
	} {
		_, err := s.Enqueue(context.Background(), queue.EnqueueParams{Job: "a", Then: then})
		if !errors.Is(err, queue.ErrInvalid) {
			t.Errorf("enqueue with %+v: err = %v; want ErrInvalid", then, err)
		}
	}
}

// A follow_ups value written badly by another language never fails the
// batch: bad specs are skipped.
func TestFollowUpsToleratesBadColumn(t *testing.T) {
	clk := newClock()
	s := mustStore(t, clk)
	ctx := context.Background()
	var ids []int64
	for _, v := range []string{`not json`, `{"job":"next"}`, `[{"job":3},{"job":""},{"when":"done"},{"job":"next","priority":"high","timeout_ms":-5}]`} {
		id := mustEnqueue(t, s, queue.EnqueueParams{Job: "a"})
		if _, err := s.DB().Write.ExecContext(ctx, `UPDATE tasks SET follow_ups = ? WHERE id = ?`, v, id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	exchange(t, s, nil, claimN(3))
	var out []queue.Outcome
	for _, id := range ids {
		out = append(out, queue.Outcome{ID: id, Attempt: 1, Kind: queue.Succeed})
	}
	exchange(t, s, out, queue.ClaimParams{Worker: "w1"})
	next := followUps(t, s, "next")
	if len(next) != 1 || next[0].Priority != 0 || next[0].Timeout != 0 {
		t.Errorf("follow-ups = %+v; want one next with defaults", next)
	}
}

// A task that ends failed because its worker vanished on its last attempt
// runs its hook too (the recovery statement's transaction enqueues it).
func TestFollowUpsAfterRecoveredFinalFailure(t *testing.T) {
	clk := newClock()
	s := mustStore(t, clk)
	p := withFollowUps("vanished")
	p.MaxAttempts = 1
	id := mustEnqueue(t, s, p)
	exchange(t, s, nil, claimN(1))
	clk.Advance(time.Hour) // past the lease: the next claim takes it back, with no attempt left
	res := exchange(t, s, nil, queue.ClaimParams{Worker: "w2", Limit: 1, DefaultTimeout: time.Minute, DefaultMaxAttempts: 3})
	if res.Recovered != 1 {
		t.Fatalf("recovered %d; want 1", res.Recovered)
	}
	if len(res.Claimed) != 1 || res.Claimed[0].Job != "hook" {
		t.Fatalf("claimed %+v; want the hook", res.Claimed)
	}
	_, ht := hookOf(t, res.Claimed[0])
	if ht.ID != id || ht.State != "failed" {
		t.Errorf("hook's task = %+v; want %d failed", ht, id)
	}
	if n := len(followUps(t, s, "next")); n != 0 {
		t.Errorf("%d chain steps after a failure", n)
	}
}

func TestPurgeGroup(t *testing.T) {
	clk := newClock()
	s := mustStore(t, clk)
	ctx := context.Background()
	done := mustEnqueue(t, s, queue.EnqueueParams{Job: "a", Group: "g"})
	queued := mustEnqueue(t, s, queue.EnqueueParams{Job: "b", Group: "g"})
	other := mustEnqueue(t, s, queue.EnqueueParams{Job: "c", Group: "h"})
	if _, err := s.Cancel(ctx, []int64{done, other}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.PurgeGroup(ctx, "g", true, false); err != nil || n != 1 {
		t.Fatalf("ungroup: %d, %v; want 1", n, err)
	}
	if task, _ := s.Get(ctx, done); task.Group != "" {
		t.Errorf("ungrouped task's group %q", task.Group)
	}
	if n, err := s.PurgeGroup(ctx, "h", false, false); err != nil || n != 1 {
		t.Fatalf("purge: %d, %v; want 1", n, err)
	}
	if _, err := s.Get(ctx, other); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("purged task: %v; want ErrNotFound", err)
	}
	if task, _ := s.Get(ctx, queued); task.Group != "g" || task.State != queue.Queued {
		t.Errorf("queued task = %+v; want kept in its group", task)
	}
	if _, err := s.PurgeGroup(ctx, "", false, false); !errors.Is(err, queue.ErrInvalid) {
		t.Errorf("empty group: %v; want ErrInvalid", err)
	}
}
