package queuetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice/queue"
)

func testRetry(t *testing.T, h *Harness) {
	ctx := context.Background()
	clk := newClock()
	s := h.open(t, clk)
	failed := mustEnqueue(t, s, queue.EnqueueParams{Job: "x", MaxAttempts: 1})
	cancelled := mustEnqueue(t, s, queue.EnqueueParams{Job: "x"})
	succeeded := mustEnqueue(t, s, queue.EnqueueParams{Job: "x"})
	finish(t, s, map[int64]queue.Kind{failed: queue.Fail, cancelled: queue.Cancel, succeeded: queue.Succeed})
	queued := mustEnqueue(t, s, queue.EnqueueParams{Job: "x"})

	t.Run("bad ids change nothing", func(t *testing.T) {
		err := s.Retry(ctx, []int64{failed, succeeded, queued, 999})
		for _, want := range []error{queue.ErrNotRetryable, queue.ErrNotFound} {
			if !errors.Is(err, want) {
				t.Errorf("err = %v; want %v", err, want)
			}
		}
		if got, _ := s.Get(ctx, failed); got.State != queue.Failed {
			t.Errorf("task %d is %s after a refused retry; want failed", failed, got.State)
		}
	})

	t.Run("failed and cancelled go back with fresh attempts", func(t *testing.T) {
		clk.Advance(time.Minute)
		if err := s.Retry(ctx, []int64{failed, cancelled}); err != nil {
			t.Fatal(err)
		}
		got, _ := s.Get(ctx, failed)
		if got.State != queue.Queued || got.Attempt != 0 || !got.FinishedAt.IsZero() || !got.RunAt.Equal(clk.Now()) {
			t.Errorf("after retry: %+v", got)
		}
		if n := len(got.History); n != 2 || got.History[0].Outcome != "failed" || got.History[1].Outcome != "retried" {
			t.Errorf("history %+v; want the failed attempt kept and a retried entry", got.History)
		}
		if got, _ := s.Get(ctx, cancelled); got.State != queue.Queued {
			t.Errorf("cancelled task is %s after retry; want queued", got.State)
		}
	})

	// A task failed after MaxRecoveries take-backs and retried by an
	// operator gets its take-backs afresh, as it gets its attempts.
	t.Run("take-backs start again", func(t *testing.T) {
		id := mustEnqueue(t, s, queue.EnqueueParams{Job: "x", MaxAttempts: 1})
		finish(t, s, map[int64]queue.Kind{id: queue.Fail})
		if _, err := h.SQL(t, s, fmt.Sprintf("UPDATE tasks SET recoveries = %d WHERE id = %d", queue.MaxRecoveries, id)); err != nil {
			t.Fatal(err)
		}
		if err := s.Retry(ctx, []int64{id}); err != nil {
			t.Fatal(err)
		}
		n, err := h.SQL(t, s, fmt.Sprintf("SELECT recoveries FROM tasks WHERE id = %d", id))
		if err != nil || n != 0 {
			t.Errorf("recoveries after retry = %d, %v; want 0", n, err)
		}
	})
}

func testRetryRespectsUniqueKeys(t *testing.T, h *Harness) {
	ctx := context.Background()
	s := h.open(t, newClock())
	old := mustEnqueue(t, s, queue.EnqueueParams{Job: "x", UniqueKey: "k", MaxAttempts: 1})
	other := mustEnqueue(t, s, queue.EnqueueParams{Job: "y", MaxAttempts: 1})
	finish(t, s, map[int64]queue.Kind{old: queue.Fail, other: queue.Fail})
	holder := mustEnqueue(t, s, queue.EnqueueParams{Job: "x", UniqueKey: "k"})

	if err := s.Retry(ctx, []int64{old, other}); !errors.Is(err, queue.ErrKeyHeld) {
		t.Fatalf("err = %v; want ErrKeyHeld naming task %d", err, holder)
	}
	if got, _ := s.Get(ctx, other); got.State != queue.Failed {
		t.Fatalf("task %d is %s after a refused retry; want failed (all or nothing)", other, got.State)
	}
	dry, err := s.RetryFailedDryRun(ctx, "")
	if err != nil || dry.Retried != 1 || dry.Skipped != 1 {
		t.Fatalf("RetryFailedDryRun = %+v, %v; want 1 retried, 1 skipped", dry, err)
	}
	if got, _ := s.Get(ctx, other); got.State != queue.Failed {
		t.Fatalf("task %d is %s after a dry run; want failed", other, got.State)
	}
	res, err := s.RetryFailed(ctx, "")
	if err != nil || res.Retried != 1 || res.Skipped != 1 {
		t.Fatalf("RetryFailed = %+v, %v; want 1 retried, 1 skipped", res, err)
	}
	if got, _ := s.Get(ctx, old); got.State != queue.Failed {
		t.Errorf("task with held key is %s; want failed", got.State)
	}
}

func testRetryFailedByJobInBatches(t *testing.T, h *Harness) {
	ctx := context.Background()
	s := h.open(t, newClock())
	n := queue.RetryBatch*2 + 7
	ps := make([]queue.EnqueueParams, n)
	for i := range ps {
		ps[i] = queue.EnqueueParams{Job: "a", MaxAttempts: 1}
		if i%2 == 1 {
			ps[i].Job = "b"
		}
	}
	if _, err := s.EnqueueMany(ctx, ps); err != nil {
		t.Fatal(err)
	}
	kinds := map[int64]queue.Kind{}
	for id := int64(1); id <= int64(n); id++ {
		kinds[id] = queue.Fail
	}
	finish(t, s, kinds)
	finish(t, s, kinds)
	res, err := s.RetryFailed(ctx, "a")
	if want := (n + 1) / 2; err != nil || res.Retried != want || res.Skipped != 0 {
		t.Fatalf("RetryFailed(a) = %+v, %v; want %d retried", res, err, want)
	}
	counts, _ := s.Counts(ctx)
	if counts[queue.Queued] != (n+1)/2 || counts[queue.Failed] != n/2 {
		t.Fatalf("counts %v; want job a queued, job b failed", counts)
	}
}
