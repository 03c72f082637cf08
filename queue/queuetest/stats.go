package queuetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice/queue"
)

func testStats(t *testing.T, h *Harness) {
	clk := newClock()
	s := h.open(t, clk)
	ctx := context.Background()
	start := clk.Now()
	mustEnqueue(t, s, queue.EnqueueParams{Job: "a"})                                             // due, claimed below
	mustEnqueue(t, s, queue.EnqueueParams{Job: "a", Queue: "mail"})                              // due
	mustEnqueue(t, s, queue.EnqueueParams{Job: "a", Queue: "mail", RunAt: start.Add(time.Hour)}) // scheduled
	clk.Advance(10 * time.Second)
	mustEnqueue(t, s, queue.EnqueueParams{Job: "a", Queue: "mail"}) // due, younger
	done := mustEnqueue(t, s, queue.EnqueueParams{Job: "a", Queue: "done"})
	p := params
	p.Queues, p.Limit = []string{"default", "done"}, 2
	res := exchange(t, s, nil, p)
	exchange(t, s, []queue.Outcome{{ID: done, Attempt: 1, Kind: queue.Succeed}}, queue.ClaimParams{Worker: "w1"})
	if len(res.Claimed) != 2 {
		t.Fatalf("claimed %d; want 2", len(res.Claimed))
	}
	clk.Advance(5 * time.Second)

	got, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []queue.QueueStats{
		{Queue: "default", Running: 1},
		{Queue: "mail", Due: 2, Scheduled: 1, OldestDue: start, Wait: 15 * time.Second},
	}
	if !slices.Equal(got, want) {
		t.Errorf("stats:\n got %+v\nwant %+v (finished queues are left out)", got, want)
	}
}
