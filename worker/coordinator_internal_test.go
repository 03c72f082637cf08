package worker

import (
	"context"
	"testing"

	"github.com/sluicehq/sluice/queue"
)

// testCoordinator is a coordinator with no store and no goroutines, for
// testing its steps one by one.
func testCoordinator(t *testing.T, opts Options, drain DrainOpts) *coordinator {
	t.Helper()
	w := New(nil, nil, opts)
	c := w.newLoop(drain, "drain").newCoordinator(context.Background())
	t.Cleanup(c.release)
	return c
}

func TestClaimSize(t *testing.T) {
	tests := []struct {
		name  string
		setup func(c *coordinator)
		want  int
	}{
		{"idle: workers + a prefetch of workers", func(c *coordinator) {}, 4},
		{"two held", func(c *coordinator) { c.held[1], c.held[2] = true, true }, 2},
		{"lost tasks still stopping: none", func(c *coordinator) { c.lost[1] = true }, 0},
		{"stopping: none", func(c *coordinator) { c.claiming = false }, 0},
		{"nothing was due last time, no outcome since: none", func(c *coordinator) { c.exhausted = true }, 0},
		{"nothing was due last time, an outcome since", func(c *coordinator) {
			c.exhausted, c.pending = true, []queue.Outcome{{ID: 1}}
		}, 4},
		{"feed full of a round: hold", func(c *coordinator) {
			c.feed <- queue.Task{ID: 1}
			c.feed <- queue.Task{ID: 2}
			c.held[1], c.held[2] = false, false
		}, 0},
		{"max tasks", func(c *coordinator) { c.opts.MaxTasks, c.claimed = 5, 4 }, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testCoordinator(t, Options{Workers: 2, Prefetch: 10}, DrainOpts{})
			tt.setup(c)
			if got := c.claimSize(); got != tt.want {
				t.Errorf("claimSize() = %d; want %d", got, tt.want)
			}
		})
	}
}

// TestReportDropsLostOutcomes: an outcome of a task lost to another worker
// is dropped and counted stale; any other becomes pending.
func TestReportDropsLostOutcomes(t *testing.T) {
	c := testCoordinator(t, Options{Workers: 2}, DrainOpts{})
	c.held[1], c.lost[2] = true, true
	c.report(queue.Outcome{ID: 1, Kind: queue.Succeed})
	c.report(queue.Outcome{ID: 2, Kind: queue.Succeed})
	if len(c.pending) != 1 || c.pending[0].ID != 1 || c.inflight() != 0 || c.sum.Stale != 1 {
		t.Errorf("pending %+v, in flight %d, stale %d; want task 1 pending, task 2 dropped", c.pending, c.inflight(), c.sum.Stale)
	}
}

// TestNewlyStarted: only held tasks claimed into the prefetch and since
// started are reported for marking.
func TestNewlyStarted(t *testing.T) {
	c := testCoordinator(t, Options{Workers: 2}, DrainOpts{})
	c.held[1], c.held[2], c.held[3] = true, false, false // 1 started at its claim
	for _, id := range []int64{1, 2, 9} {                // 9: an attempt whose outcome was already reported
		c.active.add(id, c.params.Worker, func(error) {})
	}
	if got := c.newlyStarted(); len(got) != 1 || got[0] != 2 {
		t.Errorf("newlyStarted() = %v; want [2]", got)
	}
}
