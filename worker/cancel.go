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

// errLost is the cause of a task context stopped because the task now
// belongs to another worker (this one was judged dead).
var errLost = errors.New("the task was taken over by another worker: this one was judged dead")

// running tracks the attempts in progress, so an operator's cancel, or the
// loss of their tasks to another worker, can stop them.
type running struct {
	mu       sync.Mutex
	cancel   map[int64]attempt
	disowned map[string]bool // registrations judged dead: their attempts must not run
}

// attempt is one attempt in progress: the registration it runs under, and
// how to stop it.
type attempt struct {
	owner  string
	cancel context.CancelCauseFunc
}

// add records an attempt of task id run under owner's registration. An
// attempt of a disowned registration is stopped at once.
func (r *running) add(id int64, owner string, cancel context.CancelCauseFunc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.disowned[owner] {
		cancel(errLost)
	}
	if r.cancel == nil {
		r.cancel = map[int64]attempt{}
	}
	r.cancel[id] = attempt{owner, cancel}
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
	a := r.cancel[id]
	r.mu.Unlock()
	if a.cancel != nil {
		a.cancel(errCancelled)
	}
}

// disown stops every attempt run under owner's registration, now and later:
// another worker took its tasks.
func (r *running) disown(owner string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.disowned == nil {
		r.disowned = map[string]bool{}
	}
	r.disowned[owner] = true
	for _, a := range r.cancel {
		if a.owner == owner {
			a.cancel(errLost)
		}
	}
}

// lost reports whether owner's registration was disowned.
func (r *running) lost(owner string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.disowned[owner]
}

// watchCancels polls the store every interval for cancelled tasks among the
// running ones and stops them, until ctx ends.
func (w *Worker) watchCancels(ctx context.Context, r *running) {
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
		cancelled, err := w.store.CancelledAmong(ctx, ids)
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
