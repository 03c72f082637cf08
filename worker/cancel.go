package worker

import (
	"context"
	"errors"
	"sync"
	"time"
)

// DefaultCancelPoll is how often a worker checks whether an operator
// cancelled one of the tasks it is running.
const DefaultCancelPoll = time.Second

// errCancelled is the cause of a task context cancelled by an operator.
var errCancelled = errors.New("cancelled by an operator")

// Canceller is the optional part of a Store that reports operator cancels.
type Canceller interface {
	CancelledAmong(ctx context.Context, ids []int64) ([]int64, error)
}

// running tracks the attempts in progress, so an operator's cancel can stop them.
type running struct {
	mu     sync.Mutex
	cancel map[int64]context.CancelCauseFunc
}

func (r *running) add(id int64, cancel context.CancelCauseFunc) {
	r.mu.Lock()
	if r.cancel == nil {
		r.cancel = map[int64]context.CancelCauseFunc{}
	}
	r.cancel[id] = cancel
	r.mu.Unlock()
}

func (r *running) remove(id int64) {
	r.mu.Lock()
	delete(r.cancel, id)
	r.mu.Unlock()
}

func (r *running) ids() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := make([]int64, 0, len(r.cancel))
	for id := range r.cancel {
		ids = append(ids, id)
	}
	return ids
}

func (r *running) stop(id int64) {
	r.mu.Lock()
	cancel := r.cancel[id]
	r.mu.Unlock()
	if cancel != nil {
		cancel(errCancelled)
	}
}

// watchCancels polls the store every interval for cancelled tasks among the
// running ones and stops them, until ctx ends.
func (w *Worker) watchCancels(ctx context.Context, r *running) {
	c, ok := w.store.(Canceller)
	if !ok {
		return
	}
	t := time.NewTicker(w.opts.CancelPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ids := r.ids()
		if len(ids) == 0 {
			continue
		}
		cancelled, err := c.CancelledAmong(ctx, ids)
		if err != nil {
			if ctx.Err() == nil {
				w.log.Warn("check for cancelled tasks", KeyErr, err)
			}
			continue
		}
		for _, id := range cancelled {
			w.log.Info("task cancelled by an operator: stopping it", KeyTaskID, id)
			r.stop(id)
		}
	}
}
