package pgqueue_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/sluicehq/sluice/jobs"
	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/worker"
)

// TestCancelStopsARunningTask: an operator's cancel reaches a worker's
// running attempt through the store (CancelledAmong), and the task stays
// cancelled.
func TestCancelStopsARunningTask(t *testing.T) {
	ctx := context.Background()
	s := mustStore(t, nil)
	id := mustEnqueue(t, s, queue.EnqueueParams{Job: "block"})
	started := make(chan struct{})
	reg := jobs.NewRegistry()
	reg.Register("block", func(ctx context.Context, _ json.RawMessage) ([]byte, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	})
	w := worker.New(s, reg, worker.Options{CancelPoll: 10 * time.Millisecond, ID: "w"})
	drained := make(chan error, 1)
	go func() {
		_, err := w.Drain(ctx, worker.DrainOpts{})
		drained <- err
	}()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the task did not start within 10s")
	}
	if _, err := s.Cancel(ctx, []int64{id}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-drained:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the drain did not end within 10s of the cancel")
	}
	if got, _ := s.Get(ctx, id); got.State != queue.Cancelled {
		t.Errorf("task is %s; want cancelled", got.State)
	}
}
