package queuetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/queue"
)

// followUps lists the tasks of job, oldest first.
func followUps(t *testing.T, s queue.Backend, job string) []queue.Task {
	t.Helper()
	ts, err := s.List(context.Background(), queue.ListParams{Job: job})
	if err != nil {
		t.Fatal(err)
	}
	var out []queue.Task
	for i := len(ts) - 1; i >= 0; i-- { // List is newest first
		out = append(out, get(t, s, ts[i].ID))
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

// hookOf reads a hook's payload: the extra key its spec gave, and the task
// that ended.
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

// sameJSON reports whether a and b are the same JSON value. A hook's
// payload is built by the database, and PostgreSQL's jsonb respaces it and
// orders its keys: compare values, not bytes.
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return reflect.DeepEqual(va, vb)
}

// claimN is params (leases of a minute and more) claiming n tasks.
func claimN(n int) queue.ClaimParams {
	p := params
	p.Limit = n
	return p
}

// withFollowUps is a task with a chain step (itself with a next step) and
// a hook.
func withFollowUps(job string) queue.EnqueueParams {
	return queue.EnqueueParams{Job: job, Group: "g1", Then: []queue.FollowUp{
		{Job: "next", Payload: json.RawMessage(`[1,2]`), Queue: "q2", Priority: 3, MaxAttempts: 2, Timeout: time.Minute,
			Then: []queue.FollowUp{{Job: "third"}}},
		{Job: "hook", When: queue.WhenDone, Payload: json.RawMessage(`{"extra":"x"}`)},
	}}
}

// testFollowUpsAfterSuccess: a success enqueues its chain steps, as
// written, and its hook, with the ended task; the chain goes on, once.
func testFollowUpsAfterSuccess(t *testing.T, h *Harness) {
	clk := newClock()
	s := h.open(t, clk)
	id := mustEnqueue(t, s, withFollowUps("first"))
	exchange(t, s, nil, claimN(1))
	out := []queue.Outcome{{ID: id, Attempt: 1, Kind: queue.Succeed, Result: []byte(`{"n":7}`)}}
	res := exchange(t, s, out, queue.ClaimParams{Worker: "w1"})
	if len(res.Stale) != 0 {
		t.Fatalf("stale: %+v", res.Stale)
	}
	next := followUps(t, s, "next")
	if len(next) != 1 || string(next[0].Payload) != `[1,2]` || next[0].Queue != "q2" || next[0].Priority != 3 ||
		next[0].MaxAttempts != 2 || next[0].Timeout != time.Minute || next[0].State != queue.Queued ||
		!next[0].RunAt.Equal(clk.Now()) || next[0].Group != "" {
		t.Fatalf("chain step = %+v", next)
	}
	hooks := followUps(t, s, "hook")
	if len(hooks) != 1 {
		t.Fatalf("%d hooks; want 1", len(hooks))
	}
	extra, ht := hookOf(t, hooks[0])
	if extra != "x" || ht.ID != id || ht.Job != "first" || ht.State != "succeeded" || !sameJSON(t, ht.Result, []byte(`{"n":7}`)) ||
		ht.Error != nil || ht.Group == nil || *ht.Group != "g1" {
		t.Errorf("hook payload = %s", hooks[0].Payload)
	}
	// The chain goes on: the second step's success enqueues the third, once.
	if len(followUps(t, s, "third")) != 0 {
		t.Fatal("third step enqueued before the second ran")
	}
	q2 := claimN(10)
	q2.Queues = []string{"q2"}
	claimed := exchange(t, s, nil, q2).Claimed
	if len(claimed) != 1 || claimed[0].ID != next[0].ID {
		t.Fatalf("claimed %+v; want the chain step", claimed)
	}
	out = []queue.Outcome{{ID: next[0].ID, Attempt: 1, Kind: queue.Succeed}, {ID: next[0].ID, Attempt: 1, Kind: queue.Succeed}}
	exchange(t, s, out, queue.ClaimParams{Worker: "w1"}) // the duplicate is stale: no second follow-up
	if n := len(followUps(t, s, "third")); n != 1 {
		t.Errorf("%d third steps; want exactly 1", n)
	}
}

// testFollowUpsHookGetsTextResult: a result that is not JSON reaches a
// hook as a JSON string.
func testFollowUpsHookGetsTextResult(t *testing.T, h *Harness) {
	s := h.open(t, newClock())
	id := mustEnqueue(t, s, queue.EnqueueParams{Job: "a", Then: []queue.FollowUp{{Job: "hook", When: queue.WhenDone}}})
	exchange(t, s, nil, claimN(1))
	exchange(t, s, []queue.Outcome{{ID: id, Attempt: 1, Kind: queue.Succeed, Result: []byte("plain {text")}}, queue.ClaimParams{Worker: "w1"})
	hooks := followUps(t, s, "hook")
	if len(hooks) != 1 {
		t.Fatalf("%d hooks; want 1", len(hooks))
	}
	if _, ht := hookOf(t, hooks[0]); string(ht.Result) != `"plain {text"` {
		t.Errorf("hook's result = %s; want the text as a JSON string", ht.Result)
	}
}

// testFollowUpsAfterFailureAndCancel: a retried failure enqueues nothing;
// a final failure and a cancel (by the worker or an operator) run the hook,
// once, with the error, and no chain step.
func testFollowUpsAfterFailureAndCancel(t *testing.T, h *Harness) {
	clk := newClock()
	s := h.open(t, clk)
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

	// An operator's cancel of a queued task runs its hook too; cancelling
	// it again does not.
	queued := mustEnqueue(t, s, withFollowUps("cancelled-queued"))
	for range 2 {
		if _, err := s.Cancel(ctx, []int64{queued}); err != nil {
			t.Fatal(err)
		}
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

// testFollowUpsShareTheOutcomeTransaction: the follow-ups are written by
// the outcome's own transaction: when their insert fails, neither the
// outcome nor its follow-ups are stored, so no crash can leave one without
// the other.
func testFollowUpsShareTheOutcomeTransaction(t *testing.T, h *Harness) {
	clk := newClock()
	s := h.open(t, clk)
	ctx := context.Background()
	id := mustEnqueue(t, s, withFollowUps("first"))
	exchange(t, s, nil, claimN(1))
	// A second hook task breaks an index another program added: the hook's
	// insert fails, and with it the whole exchange.
	mustEnqueue(t, s, queue.EnqueueParams{Job: "hook", RunAt: clk.Now().Add(time.Hour)})
	h.sql(t, s, "CREATE UNIQUE INDEX one_hook ON tasks (job) WHERE job = 'hook'")
	out := []queue.Outcome{{ID: id, Attempt: 1, Kind: queue.Succeed}}
	if _, err := s.Exchange(ctx, out, queue.ClaimParams{Worker: params.Worker}); err == nil {
		t.Fatal("exchange succeeded although its follow-up could not be inserted")
	}
	if task := get(t, s, id); task.State != queue.Running {
		t.Errorf("task is %s; want still running (the outcome rolled back with its follow-ups)", task.State)
	}
	if n := len(followUps(t, s, "next")); n != 0 {
		t.Errorf("%d chain steps stored by a failed exchange", n)
	}
}

// testFollowUpsToleratesBadColumn: a follow_ups value written badly by
// another language never fails the batch: bad specs are skipped or
// defaulted. Text that is not JSON at all is either refused by the
// column's type at write (PostgreSQL's json) or skipped at the outcome.
func testFollowUpsToleratesBadColumn(t *testing.T, h *Harness) {
	s := h.open(t, newClock())
	for _, v := range []string{`not json`, `"not an array"`, `{"job":"next"}`,
		`[{"job":3},{"job":""},{"when":"done"},"x",7,{"job":"next","priority":"high","timeout_ms":-5,"max_attempts":1.5,"queue":7,"then":{}}]`,
		`[{"job":"next","priority":99999999999999999999,"timeout_ms":86400001}]`} {
		id := mustEnqueue(t, s, queue.EnqueueParams{Job: "a"})
		query := fmt.Sprintf("UPDATE tasks SET follow_ups = '%s' WHERE id = %d", strings.ReplaceAll(v, "'", "''"), id)
		if _, err := h.SQL(t, s, query); err != nil {
			if v == `not json` {
				continue // the column's type refused it
			}
			t.Fatalf("%s: %v", query, err)
		}
	}
	var out []queue.Outcome
	for _, c := range exchange(t, s, nil, claimN(10)).Claimed {
		out = append(out, queue.Outcome{ID: c.ID, Attempt: c.Attempt, Kind: queue.Succeed})
	}
	if len(out) != 5 {
		t.Fatalf("claimed %d tasks; want 5", len(out))
	}
	if res := exchange(t, s, out, queue.ClaimParams{Worker: "w1"}); len(res.Stale) != 0 {
		t.Fatalf("%d outcomes stale", len(res.Stale))
	}
	next := followUps(t, s, "next")
	if len(next) != 2 {
		t.Fatalf("follow-ups = %+v; want two next", next)
	}
	for _, n := range next {
		if n.Priority != 0 || n.Timeout != 0 || n.MaxAttempts != 0 || n.Queue != queue.DefaultQueue || string(n.Payload) != "{}" {
			t.Errorf("follow-up = %+v; want next with defaults", n)
		}
	}
}

// testFollowUpsAfterTakeBack: a task taken back on its last attempt, its
// lease run out or its registered worker dead, ends failed and runs its
// hook too (the recovery's transaction enqueues it), but no chain step.
func testFollowUpsAfterTakeBack(t *testing.T, h *Harness) {
	for _, tt := range []struct {
		name, err string
		claim     func(t *testing.T, s queue.Backend, clk *clock) queue.ExchangeResult // claims the task, then takes it back
	}{
		{"lease expired", queue.LeaseExpiredError, func(t *testing.T, s queue.Backend, clk *clock) queue.ExchangeResult {
			exchange(t, s, nil, params)
			clk.Advance(time.Hour) // past the lease
			return exchange(t, s, nil, queue.ClaimParams{Worker: "w2", Limit: 1, DefaultTimeout: time.Minute, DefaultMaxAttempts: 3})
		}},
		{"worker died", queue.WorkerDiedError, func(t *testing.T, s queue.Backend, clk *clock) queue.ExchangeResult {
			a := register(t, s, "a")
			a.Starts = 1
			exchange(t, s, nil, a)
			clk.Advance(stale)
			return exchange(t, s, nil, register(t, s, "b"))
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			s := h.open(t, clk)
			p := withFollowUps("vanished")
			p.MaxAttempts = 1
			id := mustEnqueue(t, s, p)
			res := tt.claim(t, s, clk)
			if res.Recovered != 1 || len(res.Claimed) != 1 || res.Claimed[0].Job != "hook" {
				t.Fatalf("exchange = recovered %d, claimed %+v; want 1 and the hook", res.Recovered, res.Claimed)
			}
			if _, ht := hookOf(t, res.Claimed[0]); ht.ID != id || ht.State != "failed" || ht.Error == nil || *ht.Error != tt.err {
				t.Errorf("hook's task = %+v; want %d failed with %q", ht, id, tt.err)
			}
			if n := len(followUps(t, s, "next")); n != 0 {
				t.Errorf("%d chain steps after a failure", n)
			}
		})
	}
}

// testFollowUpsInBatches: batches carry follow-ups as single enqueues do,
// on both insert paths (with and without unique keys).
func testFollowUpsInBatches(t *testing.T, h *Harness) {
	s := h.open(t, newClock())
	ps := []queue.EnqueueParams{withFollowUps("b1"), {Job: "plain"}, withFollowUps("b2")}
	if _, err := s.EnqueueMany(context.Background(), ps); err != nil {
		t.Fatal(err)
	}
	ps[1].UniqueKey = "k" // the other insert path
	if _, err := s.EnqueueMany(context.Background(), ps); err != nil {
		t.Fatal(err)
	}
	claimed := exchange(t, s, nil, claimN(10)).Claimed
	var out []queue.Outcome
	for _, c := range claimed {
		out = append(out, queue.Outcome{ID: c.ID, Attempt: c.Attempt, Kind: queue.Succeed})
	}
	exchange(t, s, out, queue.ClaimParams{Worker: "w1"})
	if n, h := len(followUps(t, s, "next")), len(followUps(t, s, "hook")); n != 4 || h != 4 {
		t.Errorf("%d chain steps, %d hooks; want 4 and 4", n, h)
	}
}

// testPurgeGroup: an operator ungroups or deletes a group's finished
// tasks (a dry run changes nothing); its queued tasks stay.
func testPurgeGroup(t *testing.T, h *Harness) {
	s := h.open(t, newClock())
	ctx := context.Background()
	done := mustEnqueue(t, s, queue.EnqueueParams{Job: "a", Group: "g"})
	queued := mustEnqueue(t, s, queue.EnqueueParams{Job: "b", Group: "g"})
	other := mustEnqueue(t, s, queue.EnqueueParams{Job: "c", Group: "h"})
	kept := mustEnqueue(t, s, queue.EnqueueParams{Job: "d", Group: "h"})
	if _, err := s.Cancel(ctx, []int64{done, other}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.PurgeGroup(ctx, "g", true, true); err != nil || n != 1 {
		t.Fatalf("ungroup, dry run: %d, %v; want 1", n, err)
	}
	if task := get(t, s, done); task.Group != "g" {
		t.Errorf("a dry run changed the task's group to %q", task.Group)
	}
	if n, err := s.PurgeGroup(ctx, "g", true, false); err != nil || n != 1 {
		t.Fatalf("ungroup: %d, %v; want 1", n, err)
	}
	if task := get(t, s, done); task.Group != "" || task.State != queue.Cancelled {
		t.Errorf("ungrouped task = %+v; want kept, without a group", task)
	}
	if n, err := s.PurgeGroup(ctx, "h", false, true); err != nil || n != 1 {
		t.Fatalf("purge, dry run: %d, %v; want 1", n, err)
	}
	if _, err := s.Get(ctx, other); err != nil {
		t.Errorf("a dry run deleted the task: %v", err)
	}
	if n, err := s.PurgeGroup(ctx, "h", false, false); err != nil || n != 1 {
		t.Fatalf("purge: %d, %v; want 1", n, err)
	}
	if _, err := s.Get(ctx, other); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("purged task: %v; want ErrNotFound", err)
	}
	for _, id := range []int64{queued, kept} {
		if task, err := s.Get(ctx, id); err != nil || task.State != queue.Queued || task.Group == "" {
			t.Errorf("queued task = %+v, %v; want kept in its group", task, err)
		}
	}
	if n, err := s.PurgeGroup(ctx, "nobody", false, false); err != nil || n != 0 {
		t.Errorf("unknown group: %d, %v; want 0", n, err)
	}
	if _, err := s.PurgeGroup(ctx, "", false, false); !errors.Is(err, queue.ErrInvalid) {
		t.Errorf("empty group: %v; want ErrInvalid", err)
	}
}
