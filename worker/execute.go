package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/sluicehq/sluice/jobs"
	"github.com/sluicehq/sluice/queue"
)

// errAbandoned marks an attempt cut short by the end of the shutdown grace.
var errAbandoned = errors.New("shutdown grace over: attempt abandoned")

// execute runs one claimed task and returns its outcome. It never blocks past
// the task's deadline for an in-process job, so a handler that ignores its
// context cannot hold a goroutine of the pool.
func (w *Worker) execute(ctx context.Context, t queue.Task, f *flags, active *running) queue.Outcome {
	start := w.opts.Now()
	o := queue.Outcome{ID: t.ID, Attempt: t.Attempt, StartedAt: start}
	log := w.log.With(KeyTaskID, t.ID, KeyJob, t.Job, KeyAttempt, t.Attempt)

	if f.stopping.Load() {
		o.Kind, o.Error = queue.Release, "released unstarted: the worker was stopping"
		return o
	}
	// A task that waited in the prefetch buffer must still be able to finish
	// (and be killed) inside its lease, or another worker could run it too.
	if room := t.LeaseUntil.Sub(start); room < t.Timeout+w.opts.KillGrace {
		o.Kind, o.Error = queue.Release, fmt.Sprintf("released unstarted: only %s of its lease was left", room.Round(time.Millisecond))
		return o
	}

	log.Debug("task started")
	result, err := w.call(ctx, t, active)
	o.Duration = w.opts.Now().Sub(start)
	switch {
	case err == nil:
		o.Kind, o.Result = queue.Succeed, result
		log.Debug("task succeeded", "duration", o.Duration)
		return o
	case errors.Is(err, errCancelled):
		o.Kind, o.Error = queue.Cancel, err.Error()
		log.Info("task stopped after an operator cancelled it")
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

type callResult struct {
	out []byte
	err error
}

// call checks the task, then runs its job under the task's timeout.
func (w *Worker) call(ctx context.Context, t queue.Task, active *running) ([]byte, error) {
	job, err := w.jobs.Lookup(t.Job)
	if err != nil {
		return nil, err // retried: a newer worker may know the job
	}
	if !json.Valid(t.Payload) {
		return nil, jobs.Permanent(fmt.Errorf("payload is not valid JSON: %.80q", t.Payload))
	}
	if t.Priority < 0 {
		return nil, jobs.Permanent(fmt.Errorf("priority %d is negative", t.Priority))
	}

	cctx, cancelCause := context.WithCancelCause(ctx)
	defer cancelCause(nil)
	active.add(t.ID, cancelCause)
	defer active.remove(t.ID)
	tctx, cancel := context.WithTimeout(cctx, t.Timeout)
	defer cancel()
	deadline, _ := tctx.Deadline()
	tctx = jobs.WithInfo(tctx, jobs.Info{TaskID: t.ID, Job: t.Job, Attempt: t.Attempt, Deadline: deadline})

	done := make(chan callResult, 1) // buffered: an abandoned handler must not leak blocked
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- callResult{err: fmt.Errorf("panic: %v\n%s", p, debug.Stack())}
			}
		}()
		out, err := job.Func(tctx, t.Payload)
		done <- callResult{out, err}
	}()

	var r callResult
	if job.Isolated {
		r = <-done // it kills its process and returns within the kill grace
	} else {
		select {
		case r = <-done:
		case <-tctx.Done():
			// Give a handler that honours ctx the chance to return its own error.
			select {
			case r = <-done:
			default:
				r = callResult{err: tctx.Err()}
			}
		}
	}
	switch {
	case r.err == nil:
		return r.out, nil
	case errors.Is(context.Cause(cctx), errCancelled):
		return nil, errCancelled
	case ctx.Err() != nil:
		return nil, errAbandoned
	case errors.Is(tctx.Err(), context.DeadlineExceeded):
		return nil, &jobs.TimeoutError{After: t.Timeout}
	}
	return nil, r.err
}
