package queuetest

import (
	"context"
	"testing"

	"github.com/sluicehq/sluice/queue"
)

// testOutcomeProcessStats: a supervised attempt's leftover count and peak
// memory go into its history entry; an attempt nobody supervised has neither.
func testOutcomeProcessStats(t *testing.T, h *Harness) {
	clk := newClock()
	s := h.open(t, clk)
	sup := mustEnqueue(t, s, queue.EnqueueParams{Job: "exec"})
	plain := mustEnqueue(t, s, queue.EnqueueParams{Job: "inprocess"})
	exchange(t, s, nil, params)
	exchange(t, s, []queue.Outcome{
		{ID: sup, Attempt: 1, Kind: queue.Fail, Error: "timeout", StartedAt: clk.Now(),
			Processes: &queue.ProcessStats{Leftover: 0, PeakRSS: 300 << 20}},
		{ID: plain, Attempt: 1, Kind: queue.Succeed, StartedAt: clk.Now()},
	}, queue.ClaimParams{Worker: "w1"})
	task, err := s.Get(context.Background(), sup)
	if err != nil {
		t.Fatal(err)
	}
	if a := task.History[0]; a.Leftover == nil || *a.Leftover != 0 || a.PeakRSS != 300<<20 {
		t.Errorf("supervised attempt: leftover %v, peak %d; want 0 and %d", a.Leftover, a.PeakRSS, 300<<20)
	}
	task, err = s.Get(context.Background(), plain)
	if err != nil {
		t.Fatal(err)
	}
	if a := task.History[0]; a.Leftover != nil || a.PeakRSS != 0 {
		t.Errorf("unsupervised attempt: leftover %v, peak %d; want neither", a.Leftover, a.PeakRSS)
	}
}
