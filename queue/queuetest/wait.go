package queuetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sluicehq/sluice/queue"
)

func testWait(t *testing.T, h *Harness) {
	s := h.open(t, newClock())
	ctx := context.Background()
	id := mustEnqueue(t, s, queue.EnqueueParams{Job: "x"})

	t.Run("polls until the task finishes", func(t *testing.T) {
		res := exchange(t, s, nil, params)
		// Running: Wait keeps polling until its context ends.
		short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		if _, err := s.Wait(short, id, queue.WaitOpts{Interval: time.Millisecond}); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait on a running task = %v; want DeadlineExceeded", err)
		}
		type waited struct {
			task queue.Task
			err  error
		}
		got := make(chan waited, 1)
		go func() {
			task, err := s.Wait(ctx, id, queue.WaitOpts{Interval: time.Millisecond})
			got <- waited{task, err}
		}()
		exchange(t, s, []queue.Outcome{{ID: id, Attempt: res.Claimed[0].Attempt, Kind: queue.Succeed,
			Result: []byte(`"ok"`)}}, queue.ClaimParams{Worker: params.Worker})
		select {
		case w := <-got:
			if w.err != nil || w.task.State != queue.Succeeded || string(w.task.Result) != `"ok"` {
				t.Fatalf("Wait = %+v, %v; want the succeeded task", w.task, w.err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Wait did not return within 10s of the task finishing")
		}
	})

	t.Run("stops when the context ends", func(t *testing.T) {
		queued := mustEnqueue(t, s, queue.EnqueueParams{Job: "x", RunAt: time.Now().Add(time.Hour)})
		wctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := s.Wait(wctx, queued, queue.WaitOpts{})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v; want context.Canceled", err)
		}
	})

	t.Run("unknown task", func(t *testing.T) {
		if _, err := s.Wait(ctx, 999, queue.WaitOpts{}); !errors.Is(err, queue.ErrNotFound) {
			t.Fatalf("err = %v; want ErrNotFound", err)
		}
	})
}
