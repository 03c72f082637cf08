package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/jobs"
	"github.com/sluicehq/sluice/queue"
)

// errAbandoned marks an attempt cut short by the end of the shutdown grace.
var errAbandoned = errors.New("shutdown grace over: attempt abandoned")

// work runs tasks from the feed on this goroutine until the feed closes.
// When an in-process handler overruns its deadline, its slot is handed to a
// new goroutine running work (see call), and this one leaves as soon as the
// stuck handler returns, without touching the pool again; the slot's place
// in l.wg passes to the new goroutine.
func (l *loop) work(ctx context.Context) {
	for t := range l.feed {
		if l.active.lost(t.Worker) { // another worker owns it now: never start it
			l.done <- queue.Outcome{ID: t.ID, Attempt: t.Attempt, Kind: queue.Release, Error: errLost.Error()}
			continue
		}
		o, ok := l.w.execute(ctx, t, l)
		if !ok {
			return // handed off
		}
		l.done <- o
	}
	l.wg.Done()
}

// execute runs one claimed task and returns its outcome. ok is false when the
// attempt overran its deadline and its outcome was already reported by the
// watchdog that took over the slot.
func (w *Worker) execute(ctx context.Context, t queue.Task, l *loop) (o queue.Outcome, ok bool) {
	start := w.opts.Now()
	o = queue.Outcome{ID: t.ID, Attempt: t.Attempt, StartedAt: start}

	if l.flags.stopping.Load() {
		o.Kind, o.Error = queue.Release, "released unstarted: the worker was stopping"
		return o, true
	}
	// A row that breaks the rules (stored by SQL that bypassed them) fails
	// at once: its timeout and lease may be nonsense, so it must not run.
	if t.Invalid != "" {
		return w.finish(o, t, nil, jobs.Permanent(fmt.Errorf("invalid row: %s", t.Invalid))), true
	}

	// A leased task (claimed without a registration) that waited in the prefetch
	// must still be able to finish, and be killed, inside its lease, or
	// another worker could run it too. A registered worker's tasks have no
	// lease: they are its own while it heartbeats.
	if room := t.LeaseUntil.Sub(start); !t.LeaseUntil.IsZero() && room < t.Timeout+w.opts.KillGrace {
		o.Kind, o.Error = queue.Release, fmt.Sprintf("released unstarted: only %s of its lease was left", room.Round(time.Millisecond))
		return o, true
	}

	if w.log.Enabled(ctx, slog.LevelDebug) {
		w.taskLog(t).Debug("task started")
	}
	handoff := func(err error) {
		l.done <- w.finish(o, t, nil, err)
		go l.work(ctx)
	}
	var usage jobs.Usage // filled in by a supervised exec job
	result, err, handedOff := w.call(jobs.WithUsage(ctx, &usage), t, &l.active, handoff)
	if handedOff {
		return o, false
	}
	if usage.Measured {
		o.Processes = &queue.ProcessStats{Leftover: usage.Leftover, PeakRSS: usage.PeakRSS}
	}
	return w.finish(o, t, result, err), true
}

// taskLog is the logger for lines about t. It is built only when a line is
// written: With copies attributes, which every task would pay for.
func (w *Worker) taskLog(t queue.Task) *slog.Logger {
	return w.log.With(KeyTaskID, t.ID, KeyJob, t.Job, KeyAttempt, t.Attempt)
}

// finish turns an attempt's result into its outcome, deciding on retries.
func (w *Worker) finish(o queue.Outcome, t queue.Task, result []byte, err error) queue.Outcome {
	o.Duration = w.opts.Now().Sub(o.StartedAt)
	if err == nil && len(result) > jobs.MaxResult {
		// Exec jobs' stdout has this cap too; a result is written with a
		// round of others, through SQLite's heap.
		result, err = nil, jobs.Permanent(fmt.Errorf("result is %d bytes, over the limit of %d", len(result), jobs.MaxResult))
	}
	if err == nil {
		o.Kind, o.Result = queue.Succeed, result
		if w.log.Enabled(context.Background(), slog.LevelDebug) {
			w.taskLog(t).Debug("task succeeded", "duration", o.Duration)
		}
		return o
	}
	log := w.taskLog(t)
	switch {
	case errors.Is(err, errCancelled):
		o.Kind, o.Error = queue.Cancel, err.Error()
		log.Info("task stopped after an operator cancelled it")
		return o
	case errors.Is(err, errLost): // the loop drops the outcome
		o.Kind, o.Error, o.Label = queue.Release, err.Error(), "lost"
		log.Warn("attempt stopped: another worker took the task over")
		return o
	case errors.Is(err, errAbandoned):
		o.Kind, o.Error, o.Label = queue.Release, err.Error(), "abandoned"
		log.Warn("task abandoned at shutdown; it will run again", KeyErr, err)
		return o
	}

	o.Kind, o.Error = queue.Fail, err.Error()
	var te *jobs.TimeoutError
	if errors.As(err, &te) {
		o.Label = "timeout"
	}
	switch {
	case jobs.IsPermanent(err):
		log.Warn("task failed; not retried", KeyErr, err)
	case t.Attempt >= t.MaxAttempts:
		log.Warn("task failed; no attempts left", KeyErr, err, "max_attempts", t.MaxAttempts)
	default:
		o.RetryAt = w.opts.Now().Add(w.opts.Backoff.Delay(t.Attempt))
		log.Warn("task failed; will retry", KeyErr, err, "retry_at", o.RetryAt)
	}
	return o
}

// Attempt states, for the race between a handler returning and its deadline.
const (
	attemptRunning int32 = iota
	attemptReturned
	attemptHandedOff
)

// call checks the task, then runs its job under the task's timeout on the
// calling goroutine. An isolated job (a child process) is waited for: it is
// killed and returns within the kill grace. For an in-process handler a
// watchdog fires when the deadline passes (or the task is cancelled, or the
// shutdown grace ends): if the handler has not returned by then, the
// watchdog reports the attempt through handoff and call returns handedOff
// once the handler finally does, discarding what it returned.
func (w *Worker) call(ctx context.Context, t queue.Task, active *running, handoff func(error)) (out []byte, err error, handedOff bool) {
	if t.PayloadBytes > queue.MaxPayload { // inserted through SQL, which skips Enqueue's checks
		return nil, jobs.Permanent(fmt.Errorf("payload is %d bytes, over the limit of %d", t.PayloadBytes, queue.MaxPayload)), false
	}
	job, err := w.jobs.Lookup(t.Job)
	if err != nil {
		return nil, err, false // retried: a newer worker may know the job
	}
	if !json.Valid(t.Payload) {
		return nil, jobs.Permanent(fmt.Errorf("payload is not valid JSON: %.80q", t.Payload)), false
	}
	if t.Priority < 0 { // a store without row rules (pgqueue); queue's claim sets Invalid first
		return nil, jobs.Permanent(fmt.Errorf("priority %d is negative", t.Priority)), false
	}

	cctx, cancelCause := context.WithCancelCause(ctx)
	defer cancelCause(nil)
	active.add(t.ID, t.Worker, cancelCause)
	defer active.remove(t.ID)
	tctx, cancel := context.WithTimeout(cctx, t.Timeout)
	defer cancel()
	deadline, _ := tctx.Deadline()
	tctx = jobs.WithInfo(tctx, jobs.Info{TaskID: t.ID, Job: t.Job, Attempt: t.Attempt, Deadline: deadline,
		ScheduleID: t.ScheduleID, ScheduledFor: t.ScheduledFor})

	// why says why an attempt ended with an error, once its context is done.
	why := func(err error) error {
		switch {
		case errors.Is(context.Cause(cctx), errCancelled):
			return errCancelled
		case errors.Is(context.Cause(cctx), errLost):
			return errLost
		case ctx.Err() != nil:
			return errAbandoned
		case errors.Is(tctx.Err(), context.DeadlineExceeded):
			return &jobs.TimeoutError{After: t.Timeout}
		}
		return err
	}

	if job.Isolated {
		out, err = protect(tctx, job.Func, t.Payload)
		if err != nil {
			err = why(err)
		}
		return out, err, false
	}

	var state atomic.Int32
	stop := context.AfterFunc(tctx, func() {
		if state.CompareAndSwap(attemptRunning, attemptHandedOff) {
			handoff(why(tctx.Err()))
		}
	})
	out, err = protect(tctx, job.Func, t.Payload)
	stop()
	if !state.CompareAndSwap(attemptRunning, attemptReturned) {
		return nil, nil, true
	}
	if err != nil {
		err = why(err)
	}
	return out, err, false
}

// protect runs fn, turning a panic into an error.
func protect(ctx context.Context, fn jobs.Func, payload json.RawMessage) (out []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	return fn(ctx, payload)
}
