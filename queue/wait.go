package queue

import (
	"context"
	"fmt"
	"time"
)

// DefaultWaitInterval is how often Wait polls by default.
const DefaultWaitInterval = 100 * time.Millisecond

// WaitOpts tunes Wait.
type WaitOpts struct {
	// Interval between polls. Each poll is one indexed read that never
	// blocks a worker. Default DefaultWaitInterval.
	Interval time.Duration
}

// Wait polls task id until it reaches a final state (succeeded, failed or
// cancelled) and returns it. It returns ctx's error, wrapped, when ctx ends
// first, and ErrNotFound, wrapped, if the task does not exist. A worker must
// be draining the queue, in this process or another, for the task to finish.
func (s *Store) Wait(ctx context.Context, id int64, opts WaitOpts) (Task, error) {
	if opts.Interval <= 0 {
		opts.Interval = DefaultWaitInterval
	}
	t := time.NewTicker(opts.Interval)
	defer t.Stop()
	for {
		task, err := s.Get(ctx, id)
		if err != nil && ctx.Err() != nil {
			// The driver reports a read cut short by ctx as "interrupted".
			return Task{}, fmt.Errorf("wait for task %d: %w", id, context.Cause(ctx))
		}
		if err != nil {
			return Task{}, fmt.Errorf("wait for task %d: %w", id, err)
		}
		if task.State.Final() {
			return task, nil
		}
		select {
		case <-ctx.Done():
			return Task{}, fmt.Errorf("wait for task %d (still %s): %w", id, task.State, context.Cause(ctx))
		case <-t.C:
		}
	}
}
