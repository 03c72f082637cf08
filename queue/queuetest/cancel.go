package queuetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice/queue"
)

func testCancel(t *testing.T, h *Harness) {
	ctx := context.Background()
	clk := newClock()
	s := h.open(t, clk)
	running := mustEnqueue(t, s, queue.EnqueueParams{Job: "x", Priority: 1})
	claimed := exchange(t, s, nil, queue.ClaimParams{Worker: "w1", Limit: 1, DefaultTimeout: time.Minute, DefaultMaxAttempts: 3})
	if len(claimed.Claimed) != 1 || claimed.Claimed[0].ID != running {
		t.Fatalf("claimed %v; want task %d", ids(claimed.Claimed), running)
	}
	queued := mustEnqueue(t, s, queue.EnqueueParams{Job: "x", RunAt: clk.Now().Add(time.Hour)})
	done := mustEnqueue(t, s, queue.EnqueueParams{Job: "x"})
	finish(t, s, map[int64]queue.Kind{done: queue.Succeed})
	clk.Advance(5 * time.Second)

	if prev, err := s.Cancel(ctx, []int64{queued}); err != nil || prev[queued] != queue.Queued {
		t.Fatalf("cancel queued = %v, %v", prev, err)
	}
	if got, _ := s.Get(ctx, queued); got.State != queue.Cancelled || got.Error != queue.CancelledError ||
		!got.FinishedAt.Equal(clk.Now()) || len(got.History) != 0 {
		t.Errorf("cancelled queued task = %+v; want cancelled now, no attempt in its history", got)
	}
	if prev, err := s.Cancel(ctx, []int64{running, running}); err != nil || prev[running] != queue.Running {
		t.Fatalf("cancel running = %v, %v", prev, err)
	}
	got, _ := s.Get(ctx, running)
	if got.State != queue.Cancelled || got.Worker != "w1" || len(got.History) != 1 ||
		got.History[0].Outcome != "cancelled" || got.History[0].Duration != 5*time.Second {
		t.Errorf("cancelled running task = %+v; want its worker kept and the attempt in its history", got)
	}
	if among, err := s.CancelledAmong(ctx, []int64{running, done, 999}); err != nil || !slices.Equal(among, []int64{running}) {
		t.Errorf("CancelledAmong = %v, %v; want [%d]", among, err, running)
	}
	res := exchange(t, s, []queue.Outcome{{ID: running, Attempt: 1, Kind: queue.Succeed}}, queue.ClaimParams{Worker: "w1"})
	if len(res.Stale) != 1 {
		t.Errorf("the cancelled task's outcome was written; want it stale")
	}
	if prev, err := s.Cancel(ctx, []int64{running}); err != nil || prev[running] != queue.Cancelled {
		t.Errorf("cancel again = %v, %v; want cancelled, no error", prev, err)
	}
	other := mustEnqueue(t, s, queue.EnqueueParams{Job: "x", RunAt: clk.Now().Add(time.Hour)})
	_, err := s.Cancel(ctx, []int64{other, done, 999})
	if !errors.Is(err, queue.ErrNotCancellable) || !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("cancel finished and unknown = %v; want ErrNotCancellable and ErrNotFound", err)
	}
	if got, _ := s.Get(ctx, other); got.State != queue.Queued {
		t.Errorf("task %d beside refused ids = %s; want still queued (all or nothing)", other, got.State)
	}
	if _, err := s.Cancel(ctx, []int64{other}); err != nil {
		t.Fatal(err)
	}
	if next, err := nextDue(ctx, s); err != nil || !next.IsZero() {
		t.Errorf("NextDue with nothing queued = %v, %v; want zero", next, err)
	}
	later := mustEnqueue(t, s, queue.EnqueueParams{Job: "x", RunAt: clk.Now().Add(time.Minute)})
	if next, err := nextDue(ctx, s); err != nil || !next.Equal(clk.Now().Add(time.Minute)) {
		t.Errorf("NextDue = %v, %v; want task %d's run_at", next, err, later)
	}
}

// nextDue is the store's NextDue (the earliest queued task's run_at), which
// both stores have beside queue.Backend.
func nextDue(ctx context.Context, s queue.Backend) (time.Time, error) {
	return s.(interface {
		NextDue(context.Context) (time.Time, error)
	}).NextDue(ctx)
}
