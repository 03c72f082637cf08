package worker

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/sluicehq/sluice/queue"
)

// KeySchedule is the log attribute naming a schedule.
const KeySchedule = "schedule"

// DefaultPoll is how often Run looks for tasks that other processes added.
const DefaultPoll = time.Second

// RunOpts tunes Run.
type RunOpts struct {
	// Poll bounds how long a task added by another process waits before
	// Run sees it (tasks added through the same Store start at once).
	// Default DefaultPoll.
	Poll time.Duration
	// OnFirings, if set, is called with what each firing of schedules did
	// (metrics count the tasks). It must be quick and must not block.
	OnFirings func([]queue.Firing)
}

// Run works until ctx is cancelled: it fires schedules at their due times,
// runs tasks as they become due (at once when added through the same Store,
// within opts.Poll when added by another process), and takes back the tasks
// of dead workers. Between events it sleeps until the earliest of the next
// due task, lease expiry, stale heartbeat or schedule, the poll interval, an
// in-process enqueue and
// ctx's end: there is no fixed tick. Cancelling ctx stops it the way it
// stops Drain.
//
// Beside the loop, Run applies Options.Retention as Drain does: a pass at
// the start, then one every Retention.Every for as long as it runs. It
// reports no Options.Progress (a run has no end to estimate).
func (w *Worker) Run(ctx context.Context, opts RunOpts) (Summary, error) {
	if opts.Poll <= 0 {
		opts.Poll = DefaultPoll
	}
	stopRetention := w.startRetention(ctx)
	l := w.newLoop(DrainOpts{}, "run")
	l.idle = &runIdle{w: w, store: w.store, poll: opts.Poll, onFirings: opts.OnFirings}
	sum, err := l.run(ctx)
	sum.Pruned = stopRetention().Deleted
	return sum, err
}

// runIdle is Run's idler. Its waiter goroutine and the loop's coordinator
// both fire schedules; mu lets one fire at a time.
type runIdle struct {
	w         *Worker
	store     Store
	poll      time.Duration
	onFirings func([]queue.Firing) // may be nil

	mu        sync.Mutex
	nextCheck time.Time // beforeClaim fires schedules again from then
}

// fire fires due schedules and reports whether that added tasks; r.mu held.
func (r *runIdle) fire(ctx context.Context) (bool, error) {
	firings, err := r.store.FireDue(ctx)
	if err != nil {
		return false, err
	}
	r.nextCheck = r.w.opts.Now().Add(r.poll)
	LogFirings(r.w.log, firings)
	if r.onFirings != nil && len(firings) > 0 {
		r.onFirings(firings)
	}
	for _, f := range firings {
		if len(f.TaskIDs) > 0 {
			return true, nil
		}
	}
	return false, nil
}

func (r *runIdle) beforeClaim(ctx context.Context) error {
	if !r.mu.TryLock() {
		return nil // the waiter is firing them right now
	}
	defer r.mu.Unlock()
	if r.w.opts.Now().Before(r.nextCheck) {
		return nil
	}
	_, err := r.fire(ctx)
	return err
}

func (r *runIdle) wait(ctx context.Context) error {
	for {
		// Take the channel before looking, so an enqueue in between still wakes us.
		enqueued := r.store.Enqueued()
		r.mu.Lock()
		fired, err := r.fire(ctx)
		r.mu.Unlock()
		if err != nil || fired {
			return err
		}
		wake, err := r.store.NextWakeup(ctx, r.w.opts.Queues)
		if err != nil {
			return err
		}
		sleep := r.poll
		if !wake.IsZero() {
			until := wake.Sub(r.w.opts.Now())
			if until <= 0 {
				return nil
			}
			sleep = min(sleep, until)
		}
		t := time.NewTimer(sleep)
		select {
		case <-enqueued:
			t.Stop()
			return nil
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}

// LogFirings logs what FireDue did, one line per schedule.
func LogFirings(log *slog.Logger, firings []queue.Firing) {
	for _, f := range firings {
		switch {
		case f.Err != nil:
			log.Error("schedule paused: its due times cannot be computed", KeySchedule, f.Schedule, KeyErr, f.Err)
		case f.Overlap:
			log.Info("schedule skipped: its previous run is still queued or running", KeySchedule, f.Schedule, "dropped", f.Dropped)
		case len(f.TaskIDs) > 0:
			log.Info("schedule fired", KeySchedule, f.Schedule, "tasks", f.TaskIDs,
				"scheduled_for", f.Times[len(f.Times)-1], "dropped", f.Dropped)
		default:
			log.Info("schedule due times dropped by its catch-up policy", KeySchedule, f.Schedule, "dropped", f.Dropped)
		}
	}
}
