package queuetest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/queue"
)

func testClaimOrderAndDueness(t *testing.T, h *Harness) {
	clk := newClock()
	s := h.open(t, clk)
	low := mustEnqueue(t, s, queue.EnqueueParams{Job: "low"})
	high := mustEnqueue(t, s, queue.EnqueueParams{Job: "high", Priority: 10})
	future := mustEnqueue(t, s, queue.EnqueueParams{Job: "future", Priority: 99, RunAt: clk.Now().Add(time.Minute)})
	low2 := mustEnqueue(t, s, queue.EnqueueParams{Job: "low2"})
	other := mustEnqueue(t, s, queue.EnqueueParams{Job: "other", Queue: "other"})

	p := params
	p.Queues = []string{"default"}
	p.Limit = 2
	res := exchange(t, s, nil, p)
	if len(res.Claimed) != 2 || res.Claimed[0].ID != high || res.Claimed[1].ID != low {
		t.Fatalf("claimed %v; want [high low]", ids(res.Claimed))
	}
	c := res.Claimed[0]
	if c.Attempt != 1 || c.MaxAttempts != 3 || c.Timeout != time.Minute || !c.LeaseUntil.Equal(clk.Now().Add(90*time.Second)) {
		t.Errorf("claimed task = %+v", c)
	}
	res = exchange(t, s, nil, p)
	if len(res.Claimed) != 1 || res.Claimed[0].ID != low2 {
		t.Fatalf("claimed %v; want [low2] (future is not due, other is another queue)", ids(res.Claimed))
	}
	clk.Advance(time.Minute) // inside the 90 s leases of the tasks claimed so far
	res = exchange(t, s, nil, params)
	if got := ids(res.Claimed); len(got) != 2 || got[0] != future || got[1] != other {
		t.Fatalf("claimed %v; want [future other]", got)
	}
}

func testOutcomes(t *testing.T, h *Harness) {
	clk := newClock()
	s := h.open(t, clk)
	ctx := context.Background()
	okID := mustEnqueue(t, s, queue.EnqueueParams{Job: "ok"})
	retryID := mustEnqueue(t, s, queue.EnqueueParams{Job: "retry"})
	failID := mustEnqueue(t, s, queue.EnqueueParams{Job: "fail"})
	relID := mustEnqueue(t, s, queue.EnqueueParams{Job: "release"})
	res := exchange(t, s, nil, params)
	if len(res.Claimed) != 4 {
		t.Fatalf("claimed %d; want 4", len(res.Claimed))
	}
	start := clk.Now()
	clk.Advance(2 * time.Second)
	retryAt := clk.Now().Add(time.Minute)
	outs := []queue.Outcome{
		{ID: okID, Attempt: 1, Kind: queue.Succeed, Result: []byte(`"done"`), StartedAt: start, Duration: 1500 * time.Millisecond},
		{ID: retryID, Attempt: 1, Kind: queue.Fail, Error: "boom", RetryAt: retryAt, StartedAt: start, Duration: time.Second},
		{ID: failID, Attempt: 1, Kind: queue.Fail, Error: "fatal", StartedAt: start},
		{ID: relID, Attempt: 1, Kind: queue.Release, Error: "shutdown", StartedAt: start},
		{ID: okID, Attempt: 1, Kind: queue.Succeed}, // written twice: the second is stale
	}
	res = exchange(t, s, outs, queue.ClaimParams{Worker: "w1"})
	if len(res.Stale) != 1 || res.Stale[0].ID != okID {
		t.Errorf("stale = %+v; want the duplicate outcome", res.Stale)
	}

	ok, _ := s.Get(ctx, okID)
	if ok.State != queue.Succeeded || string(ok.Result) != `"done"` || ok.Duration != 1500*time.Millisecond ||
		!ok.FinishedAt.Equal(clk.Now()) || len(ok.History) != 1 || ok.History[0].Outcome != "succeeded" {
		t.Errorf("succeeded task = %+v", ok)
	}
	re, _ := s.Get(ctx, retryID)
	if re.State != queue.Queued || !re.RunAt.Equal(retryAt) || re.Error != "boom" || re.Attempt != 1 ||
		len(re.History) != 1 || re.History[0].Error != "boom" || re.History[0].Duration != time.Second {
		t.Errorf("retried task = %+v", re)
	}
	fa, _ := s.Get(ctx, failID)
	if fa.State != queue.Failed || fa.Error != "fatal" || fa.FinishedAt.IsZero() {
		t.Errorf("failed task = %+v", fa)
	}
	rel, _ := s.Get(ctx, relID)
	if rel.State != queue.Queued || rel.Attempt != 0 || rel.History[0].Outcome != "released" {
		t.Errorf("released task = %+v", rel)
	}
}

func testOutcomeFromOtherWorkerIsStale(t *testing.T, h *Harness) {
	s := h.open(t, newClock())
	id := mustEnqueue(t, s, queue.EnqueueParams{Job: "x"})
	exchange(t, s, nil, params)
	res := exchange(t, s, []queue.Outcome{{ID: id, Attempt: 1, Kind: queue.Succeed}}, queue.ClaimParams{Worker: "intruder"})
	if len(res.Stale) != 1 {
		t.Fatalf("stale = %d; want 1", len(res.Stale))
	}
	got, _ := s.Get(context.Background(), id)
	if got.State != queue.Running {
		t.Errorf("state = %s; want running", got.State)
	}
}

func testExpiredLeaseCountsAnAttempt(t *testing.T, h *Harness) {
	clk := newClock()
	s := h.open(t, clk)
	ctx := context.Background()
	id := mustEnqueue(t, s, queue.EnqueueParams{Job: "killer", MaxAttempts: 2})
	p := params
	for attempt := 1; attempt <= 2; attempt++ {
		res := exchange(t, s, nil, p)
		if len(res.Claimed) != 1 || res.Claimed[0].Attempt != attempt {
			t.Fatalf("attempt %d: claimed %+v", attempt, res.Claimed)
		}
		// Before the lease ends nobody else may take it.
		clk.Advance(89 * time.Second)
		if res := exchange(t, s, nil, p); len(res.Claimed) != 0 {
			t.Fatalf("attempt %d: task claimed again inside its lease", attempt)
		}
		clk.Advance(time.Second) // the worker "died": its lease runs out
	}
	res := exchange(t, s, nil, p)
	if len(res.Claimed) != 0 || res.Recovered != 1 {
		t.Fatalf("after max attempts: claimed %d, recovered %d; want 0, 1", len(res.Claimed), res.Recovered)
	}
	got, _ := s.Get(ctx, id)
	if got.State != queue.Failed || got.Error != queue.LeaseExpiredError || len(got.History) != 2 ||
		got.History[1].Outcome != "lease_expired" || got.History[1].Duration != 90*time.Second {
		t.Errorf("task = %+v", got)
	}
}

// testExpiredLeaseOfRowWithFinishTime checks that lease recovery, which
// seeks running tasks without a finish time, also finds a task inserted
// through SQL with one: the claim clears it.
func testExpiredLeaseOfRowWithFinishTime(t *testing.T, h *Harness) {
	clk := newClock()
	s := h.open(t, clk)
	id := h.sql(t, s, "INSERT INTO tasks (job, run_at, finished_at) VALUES ('odd', 0, 12345) RETURNING id")
	if got := exchange(t, s, nil, params); len(got.Claimed) != 1 || got.Claimed[0].ID != id {
		t.Fatalf("claimed %+v; want task %d", got.Claimed, id)
	}
	clk.Advance(time.Hour) // past the lease
	if got := exchange(t, s, nil, params); got.Recovered != 1 || len(got.Claimed) != 1 {
		t.Fatalf("recovered %d, claimed %d; want the task recovered and claimed again", got.Recovered, len(got.Claimed))
	}
}

// testClaimLeavesOutOversizePayloads checks that a claim does not load a
// payload over MaxPayload (an SQL insert can store one) but says its size,
// and that other tasks come with theirs.
func testClaimLeavesOutOversizePayloads(t *testing.T, h *Harness) {
	s := h.open(t, newClock())
	ctx := context.Background()
	small := mustEnqueue(t, s, queue.EnqueueParams{Job: "small", Payload: []byte(`{"n":1}`)})
	big := h.sql(t, s, `INSERT INTO tasks (job, payload, run_at)
		VALUES ('big', '"`+strings.Repeat("x", 2<<20)+`"', 0) RETURNING id`) // 2 MiB + 2
	got := exchange(t, s, nil, params)
	sizes := map[int64]int{}
	for _, task := range got.Claimed {
		sizes[task.ID] = task.PayloadBytes
		switch task.ID {
		case small:
			if string(task.Payload) != `{"n":1}` {
				t.Errorf("small task's payload = %q", task.Payload)
			}
		case big:
			if task.Payload != nil {
				t.Errorf("big task came with %d bytes of payload; want none", len(task.Payload))
			}
		}
	}
	if sizes[small] != 7 || sizes[big] != 2<<20+2 {
		t.Errorf("payload sizes = %v; want %d: 7, %d: %d", sizes, small, big, 2<<20+2)
	}
	if task, err := s.Get(ctx, big); err != nil || task.PayloadBytes != 2<<20+2 || len(task.Payload) != 2<<20+2 {
		t.Errorf("Get(big) = %d payload bytes (PayloadBytes %d), %v; want the whole payload", len(task.Payload), task.PayloadBytes, err)
	}
}

func testPing(t *testing.T, h *Harness) {
	s := h.open(t, newClock())
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("ping on an open store: %v", err)
	}
	mustEnqueue(t, s, queue.EnqueueParams{Job: "echo_test"})
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("ping with a task: %v", err)
	}
	s.Close()
	if err := s.Ping(context.Background()); err == nil {
		t.Fatal("ping on a closed store: want an error (/healthz reports it)")
	}
}

// testClaimOrderWithinAPriority: among due tasks of one priority the
// earliest run_at goes first, and the lower id breaks a tie.
func testClaimOrderWithinAPriority(t *testing.T, h *Harness) {
	clk := newClock()
	s := h.open(t, clk)
	now := clk.Now()
	a := mustEnqueue(t, s, queue.EnqueueParams{Job: "a", RunAt: now.Add(-time.Second)})
	b := mustEnqueue(t, s, queue.EnqueueParams{Job: "b", RunAt: now.Add(-3 * time.Second)})
	c := mustEnqueue(t, s, queue.EnqueueParams{Job: "c", RunAt: now.Add(-2 * time.Second)})
	d := mustEnqueue(t, s, queue.EnqueueParams{Job: "d", RunAt: now.Add(-3 * time.Second)})
	e := mustEnqueue(t, s, queue.EnqueueParams{Job: "e", Priority: 1, RunAt: now})
	var got []int64
	p := params
	p.Limit = 2
	for range 3 {
		got = append(got, ids(exchange(t, s, nil, p).Claimed)...)
	}
	want := []int64{e, b, d, c, a}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("claimed %v; want %v (priority, then run_at, then id)", got, want)
	}
}
