package queuetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/queue"
)

// stale is the stale limit of the workers these tests register.
const stale = 10 * time.Second

// register registers worker id with a stale limit of stale and returns
// ClaimParams for it.
func register(tb testing.TB, s queue.Backend, id string) queue.ClaimParams {
	tb.Helper()
	if err := s.Register(context.Background(), queue.WorkerInfo{ID: id, Host: "h", PID: 1, Version: "test",
		Command: "drain", StaleAfter: stale}); err != nil {
		tb.Fatal(err)
	}
	p := params
	p.Worker, p.Registered = id, true
	return p
}

// get returns task id, failing tb on an error.
func get(tb testing.TB, s queue.Backend, id int64) queue.Task {
	tb.Helper()
	task, err := s.Get(context.Background(), id)
	if err != nil {
		tb.Fatal(err)
	}
	return task
}

// lastOutcome is the outcome of t's latest history entry.
func lastOutcome(t queue.Task) string {
	if len(t.History) == 0 {
		return ""
	}
	return t.History[len(t.History)-1].Outcome
}

// testLiveWorkerKeepsItsTasks: however long past their timeouts, a
// heartbeating worker's tasks (running or waiting in its prefetch) have no
// lease, are never taken by another worker's claim, and its outcomes are
// written.
func testLiveWorkerKeepsItsTasks(t *testing.T, h *Harness) {
	clk := newClock()
	s := h.open(t, clk)
	for range 3 {
		mustEnqueue(t, s, queue.EnqueueParams{Job: "j", Timeout: time.Second})
	}
	a, b := register(t, s, "a"), register(t, s, "b")
	a.Starts = 1
	claimed := exchange(t, s, nil, a).Claimed
	if len(claimed) != 3 {
		t.Fatalf("claimed %d; want 3", len(claimed))
	}
	for _, c := range claimed {
		if !c.LeaseUntil.IsZero() {
			t.Errorf("task %d of a registered worker has a lease until %v; want none", c.ID, c.LeaseUntil)
		}
	}
	hb := a
	hb.Limit = 0
	for range 10 { // far past the tasks' timeouts, heartbeating within the stale limit
		clk.Advance(stale - time.Millisecond)
		if res := exchange(t, s, nil, b); res.Recovered != 0 || len(res.Claimed) != 0 {
			t.Fatalf("another worker recovered %d, claimed %d of a live worker's tasks", res.Recovered, len(res.Claimed))
		}
		if res := exchange(t, s, nil, hb); res.Lost {
			t.Fatal("a live worker was reported lost")
		}
	}
	var outs []queue.Outcome
	for _, c := range claimed {
		outs = append(outs, queue.Outcome{ID: c.ID, Attempt: c.Attempt, Kind: queue.Succeed, StartedAt: c.StartedAt})
	}
	a.Limit = 0
	if res := exchange(t, s, outs, a); len(res.Stale) != 0 || res.Lost {
		t.Fatalf("outcomes of a live worker: %d stale, lost %v", len(res.Stale), res.Lost)
	}
}

// testDeadWorkerTasksComeBack: once a worker's heartbeat is older than its
// stale limit, the next claim takes back its tasks: the started ones
// charged (worker_died), the unstarted ones not (worker_died_unstarted).
// The dead worker's next exchange learns it lost them and writes, recovers
// and claims nothing.
func testDeadWorkerTasksComeBack(t *testing.T, h *Harness) {
	clk := newClock()
	s := h.open(t, clk)
	var want []int64
	for range 3 {
		want = append(want, mustEnqueue(t, s, queue.EnqueueParams{Job: "j", Timeout: time.Hour}))
	}
	a, b := register(t, s, "a"), register(t, s, "b")
	a.Starts = 1 // want[0] starts at once, want[1] and want[2] wait in the prefetch
	claimed := exchange(t, s, nil, a).Claimed
	if got := ids(claimed); !slices.Equal(got, want) {
		t.Fatalf("claimed %v; want %v", got, want)
	}
	ids := want
	hb := a
	hb.Limit, hb.Started = 0, []int64{ids[1]} // ids[1] started since
	exchange(t, s, nil, hb)

	clk.Advance(stale - time.Millisecond)
	if res := exchange(t, s, nil, b); res.Recovered != 0 {
		t.Fatalf("recovered %d before the stale limit", res.Recovered)
	}
	clk.Advance(time.Millisecond)
	b.Limit = 0 // a heartbeat alone recovers nothing
	if res := exchange(t, s, nil, b); res.Recovered != 0 {
		t.Fatalf("a heartbeat recovered %d", res.Recovered)
	}
	b.Limit = 10
	res := exchange(t, s, nil, b)
	if res.Recovered != 3 {
		t.Fatalf("recovered %d; want 3", res.Recovered)
	}
	for i, want := range []struct {
		outcome string
		attempt int
	}{{queue.OutcomeWorkerDied, 1}, {queue.OutcomeWorkerDied, 1}, {queue.OutcomeWorkerDiedUnstarted, 0}} {
		task := get(t, s, ids[i])
		// b claimed them again at once: the attempt after the recovery is one more.
		if got := lastOutcome(task); got != want.outcome || task.Attempt != want.attempt+1 {
			t.Errorf("task %d: last outcome %q, attempt %d; want %q, %d", i, got, task.Attempt, want.outcome, want.attempt+1)
		}
	}

	mustEnqueue(t, s, queue.EnqueueParams{Job: "j"})
	out := queue.Outcome{ID: claimed[0].ID, Attempt: claimed[0].Attempt, Kind: queue.Succeed}
	hb.Started, hb.Limit = nil, 10
	if res := exchange(t, s, []queue.Outcome{out}, hb); !res.Lost || len(res.Claimed) != 0 || len(res.Stale) != 0 {
		t.Fatalf("the dead worker's exchange = %+v; want lost alone", res)
	}
	if task := get(t, s, ids[0]); task.State != queue.Running || task.Worker != "b" {
		t.Errorf("after the dead worker's outcome: %s under %q; want running under b", task.State, task.Worker)
	}
	workers, err := s.Workers(context.Background())
	if err != nil || len(workers) != 1 || workers[0].ID != "b" || !slices.Equal(workers[0].Tasks, ids) {
		t.Errorf("workers = %+v, %v; want b alone holding %v", workers, err, ids)
	}
}

// testRecoveriesAreBounded: a task whose workers keep dying before its
// start is recorded is never charged, but ends failed after MaxRecoveries.
func testRecoveriesAreBounded(t *testing.T, h *Harness) {
	clk := newClock()
	s := h.open(t, clk)
	id := mustEnqueue(t, s, queue.EnqueueParams{Job: "j"})
	for i := range queue.MaxRecoveries {
		p := register(t, s, "w"+string(rune('a'+i)))
		p.Starts = 0
		res := exchange(t, s, nil, p)
		if len(res.Claimed) != 1 {
			t.Fatalf("round %d: claimed %d; want 1 (recovered %d)", i, len(res.Claimed), res.Recovered)
		}
		clk.Advance(stale)
	}
	exchange(t, s, nil, register(t, s, "last"))
	task := get(t, s, id)
	if task.State != queue.Failed || task.Error != queue.RecoveriesError || task.Attempt != 0 {
		t.Errorf("task %s attempt %d error %q; want failed, no attempt charged, %q", task.State, task.Attempt, task.Error, queue.RecoveriesError)
	}
}

// testUnregisterReturnsHeldTasks: a worker that leaves holding tasks gives
// them back at once, and its next exchange learns it is gone.
func testUnregisterReturnsHeldTasks(t *testing.T, h *Harness) {
	s := h.open(t, newClock())
	id := mustEnqueue(t, s, queue.EnqueueParams{Job: "j"})
	p := register(t, s, "a")
	exchange(t, s, nil, p)
	n, err := s.Unregister(context.Background(), "a", 3)
	if err != nil || n != 1 {
		t.Fatalf("Unregister = %d, %v; want 1", n, err)
	}
	if task := get(t, s, id); task.State != queue.Queued || task.Attempt != 0 {
		t.Errorf("task %s attempt %d; want queued, no attempt charged", task.State, task.Attempt)
	}
	if res := exchange(t, s, nil, p); !res.Lost {
		t.Error("an unregistered worker's exchange did not report it lost")
	}
}

// testRegisterRefusesATakenID: a new process never takes over a registered
// id, dead or alive, nor registers without a stale limit.
func testRegisterRefusesATakenID(t *testing.T, h *Harness) {
	s := h.open(t, newClock())
	register(t, s, "a")
	if err := s.Register(context.Background(), queue.WorkerInfo{ID: "a", StaleAfter: stale}); err == nil {
		t.Error("a second registration of the same id succeeded")
	}
	if err := s.Register(context.Background(), queue.WorkerInfo{ID: "b"}); err == nil {
		t.Error("a registration without a stale limit succeeded")
	}
}

// testWorkersListsRegistrations: Workers shows what a worker registered,
// its times on the store's clock, and the tasks it holds.
func testWorkersListsRegistrations(t *testing.T, h *Harness) {
	ctx := context.Background()
	clk := newClock()
	s := h.open(t, clk)
	start := clk.Now()
	p := register(t, s, "a")
	id := mustEnqueue(t, s, queue.EnqueueParams{Job: "j"})
	clk.Advance(time.Second)
	exchange(t, s, nil, p)
	ws, err := s.Workers(ctx)
	if err != nil || len(ws) != 1 {
		t.Fatalf("workers %+v, %v; want one", ws, err)
	}
	w := ws[0]
	if w.ID != "a" || w.Host != "h" || w.PID != 1 || w.Version != "test" || w.Command != "drain" || w.StaleAfter != stale ||
		!w.StartedAt.Equal(start) || !w.HeartbeatAt.Equal(clk.Now()) || !slices.Equal(w.Tasks, []int64{id}) {
		t.Errorf("worker = %+v; want a as registered, started %v, heartbeat %v, holding %d", w, start, clk.Now(), id)
	}
}

// testLeaselessRunningRowsOfNoWorkerComeBack: a running row whose worker
// is not registered and whose lease is NULL or past year 9999 (only SQL by
// hand makes one) is taken back by the next claim, not left running for
// ever; a registered worker's tasks, which have no lease, are left alone.
func testLeaselessRunningRowsOfNoWorkerComeBack(t *testing.T, h *Harness) {
	ctx := context.Background()
	s := h.open(t, newClock())
	held := mustEnqueue(t, s, queue.EnqueueParams{Job: "j", Queue: "mine"})
	live := register(t, s, "live")
	live.Queues = []string{"mine"}
	if got := exchange(t, s, nil, live).Claimed; len(got) != 1 || got[0].ID != held {
		t.Fatalf("the registered worker claimed %v; want task %d", ids(got), held)
	}
	stuck := map[int64]string{}
	for _, set := range []string{
		"worker = NULL, lease_until = NULL",                                   // UPDATE tasks SET state = 'running'
		"worker = 'gone', lease_until = NULL",                                 // a worker never registered
		"worker = NULL, lease_until = 253402300800000",                        // past year 9999
		"worker = 'gone', lease_until = NULL, attempt = 1, started_at = 1000", // started: its attempt is charged
	} {
		id := mustEnqueue(t, s, queue.EnqueueParams{Job: "j", Queue: "hand"})
		h.sql(t, s, fmt.Sprintf("UPDATE tasks SET state = 'running', %s WHERE id = %d", set, id))
		stuck[id] = set
	}
	other := params
	other.Queues = []string{"nothing here"} // recovers without claiming them back
	if res := exchange(t, s, nil, other); res.Recovered != len(stuck) {
		t.Errorf("recovered %d; want the %d stuck rows", res.Recovered, len(stuck))
	}
	for id, set := range stuck {
		got := get(t, s, id)
		if got.State != queue.Queued || got.Worker != "" || !got.LeaseUntil.IsZero() || got.Attempt < 0 {
			t.Errorf("row with %s: %s, worker %q, lease %v, attempt %d; want queued, free, attempt >= 0",
				set, got.State, got.Worker, got.LeaseUntil, got.Attempt)
		}
		if lastOutcome(got) == "" {
			t.Errorf("row with %s: no history entry for the recovery", set)
		}
		if charged := strings.Contains(set, "started_at"); charged != (got.Attempt == 1) {
			t.Errorf("row with %s: attempt %d after the recovery", set, got.Attempt)
		}
	}
	if got := get(t, s, held); got.State != queue.Running || got.Worker != "live" {
		t.Errorf("the registered worker's task is %s, worker %q; want still running, its own", got.State, got.Worker)
	}
	// The recovered rows run and finish like any other.
	hand := params
	hand.Queues = []string{"hand"}
	claimed := exchange(t, s, nil, hand).Claimed
	if len(claimed) != len(stuck) {
		t.Fatalf("claimed %d of the recovered rows; want %d", len(claimed), len(stuck))
	}
	var outs []queue.Outcome
	for _, c := range claimed {
		if c.Invalid != "" {
			t.Errorf("task %d claimed as invalid: %s", c.ID, c.Invalid)
		}
		outs = append(outs, queue.Outcome{ID: c.ID, Attempt: c.Attempt, Kind: queue.Succeed, StartedAt: c.StartedAt})
	}
	hand.Limit = 0
	if res := exchange(t, s, outs, hand); len(res.Stale) != 0 {
		t.Errorf("%d outcomes stale", len(res.Stale))
	}
	for id := range stuck {
		if got, err := s.Get(ctx, id); err != nil || got.State != queue.Succeeded {
			t.Errorf("task %d: %s, %v; want succeeded", id, got.State, err)
		}
	}
}

// testNextWakeupAtStaleHeartbeat: a run loop wakes when a worker's
// heartbeat goes stale, to take its tasks back.
func testNextWakeupAtStaleHeartbeat(t *testing.T, h *Harness) {
	clk := newClock()
	s := h.open(t, clk)
	register(t, s, "a")
	got, err := s.NextWakeup(context.Background(), nil)
	if want := clk.Now().Add(stale); err != nil || !got.Equal(want) {
		t.Errorf("NextWakeup = %v, %v; want %v", got, err, want)
	}
}
