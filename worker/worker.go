// Package worker runs tasks: it claims them from the queue in batches, runs
// each under its timeout on a fixed number of goroutines, and writes the
// outcomes back in batches.
package worker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/jobs"
	"github.com/sluicehq/sluice/queue"
)

// Log attribute keys, used the same way everywhere.
const (
	KeyTaskID  = "task_id"
	KeyJob     = "job"
	KeyQueue   = "queue"
	KeyAttempt = "attempt"
	KeyErr     = "err"
)

// Store is what a Worker needs from the task store: the store contract,
// queue.Backend, which *queue.Store (SQLite) and *pgqueue.Store (PostgreSQL)
// implement.
type Store = queue.Backend

// Defaults of Options. They are the defaults of the SLUICE_* settings too:
// config's tests check that both say the same.
const (
	DefaultTimeout       = 120 * time.Second // SLUICE_TIMEOUT
	DefaultLeaseMargin   = 60 * time.Second  // SLUICE_RETRY - SLUICE_TIMEOUT
	DefaultMaxAttempts   = 3                 // SLUICE_MAX_ATTEMPTS
	DefaultBackoffBase   = 10 * time.Second  // SLUICE_BACKOFF_BASE
	DefaultBackoffMax    = time.Hour         // SLUICE_BACKOFF_MAX
	DefaultShutdownGrace = 30 * time.Second  // SLUICE_SHUTDOWN_GRACE
	DefaultHeartbeat     = 2 * time.Second   // SLUICE_HEARTBEAT
	DefaultStaleAfter    = 30 * time.Second  // SLUICE_STALE_AFTER
)

// Options configures a Worker. Zero fields take the defaults noted.
type Options struct {
	Workers       int           // tasks run at once; default 1
	Queues        []string      // queues served; empty serves all
	Timeout       time.Duration // for tasks stored without one; default DefaultTimeout
	LeaseMargin   time.Duration // lease = timeout + margin; default DefaultLeaseMargin
	KillGrace     time.Duration // SIGTERM to SIGKILL for isolated jobs; part of the check of a leased task's room
	MaxAttempts   int           // for tasks stored without one; default DefaultMaxAttempts
	Backoff       Backoff       // default DefaultBackoffBase, DefaultBackoffMax
	ShutdownGrace time.Duration // after a stop, how long running tasks may finish; default DefaultShutdownGrace
	// Prefetch caps how many claimed tasks may wait for a free goroutine.
	// The worker sizes the wait by measured task durations up to this cap.
	// Default DefaultPrefetch.
	Prefetch int
	// CancelPoll is how often running tasks are checked for an operator's
	// cancel. Default DefaultCancelPoll.
	CancelPoll time.Duration
	// Heartbeat is how often the worker records that it lives, and so the
	// longest a finished outcome waits to be written. Default DefaultHeartbeat.
	Heartbeat time.Duration
	// StaleAfter is how old its last heartbeat must be before other workers
	// take its tasks back. Default DefaultStaleAfter; Heartbeat is cut to a
	// third of it if longer.
	StaleAfter time.Duration
	Version    string           // recorded with the worker's registration
	ID         string           // identifies this process's tasks; default host-pid-random
	Now        func() time.Time // clock for retry times; default time.Now
	Logger     *slog.Logger

	// Retention removes old finished tasks while a drain or a run goes on,
	// beside Drain and Run. The zero value removes nothing.
	Retention Retention
	// Progress receives a report every ProgressEvery during a drain (a live
	// line on a terminal); nil logs the report at info level instead. Run
	// reports no progress: it has no end to estimate (metrics count its work).
	Progress      func(Progress)
	ProgressEvery time.Duration // default DefaultProgressEvery

	// OnOutcomes, if set, is called after each write of outcomes with what
	// it did (metrics count them). It runs on the goroutine that claims
	// tasks, so it must be quick and must not block.
	OnOutcomes func(Report)
}

// Report is what one write of outcomes did, for Options.OnOutcomes.
type Report struct {
	Done      []Done // one per attempt whose outcome was written or dropped
	Recovered int    // tasks of dead workers recovered in the same transaction
}

// Done is one attempt's outcome with the job and queue of its task.
type Done struct {
	Job, Queue string
	Outcome    queue.Outcome
	Stale      bool // dropped: another worker had taken the task over (an operator's cancel is a Cancel, not Stale)
}

// DefaultPrefetch is the default cap on claimed tasks waiting for a goroutine.
// Tasks waiting there are not charged an attempt when the worker dies, but
// wait for its heartbeat to go stale: the cap bounds how many are delayed.
// Measured (BENCHMARKS.md): 128 drains no-op tasks about as fast as 512.
const DefaultPrefetch = 128

// Worker runs tasks from a Store.
type Worker struct {
	store   Store
	jobs    *jobs.Registry
	opts    Options
	log     *slog.Logger
	counter *counter               // what the drain did so far, for progress reports
	owner   atomic.Pointer[string] // the id registered now: opts.ID, or a new one after a loss
}

// New returns a Worker; it starts nothing until Drain is called.
func New(store Store, registry *jobs.Registry, opts Options) *Worker {
	if opts.Workers < 1 {
		opts.Workers = 1
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.LeaseMargin <= 0 {
		opts.LeaseMargin = DefaultLeaseMargin
	}
	if opts.MaxAttempts < 1 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.Backoff.Base <= 0 {
		opts.Backoff.Base = DefaultBackoffBase
	}
	if opts.Backoff.Max < opts.Backoff.Base {
		opts.Backoff.Max = max(opts.Backoff.Base, DefaultBackoffMax)
	}
	if opts.ShutdownGrace <= 0 {
		opts.ShutdownGrace = DefaultShutdownGrace
	}
	if opts.Prefetch <= 0 {
		opts.Prefetch = DefaultPrefetch
	}
	if opts.CancelPoll <= 0 {
		opts.CancelPoll = DefaultCancelPoll
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = DefaultHeartbeat
	}
	if opts.StaleAfter <= 0 {
		opts.StaleAfter = DefaultStaleAfter
	}
	// Others must see a few heartbeats within the stale limit (config checks
	// SLUICE_* values; a Go program's own values are brought into line).
	opts.Heartbeat = min(opts.Heartbeat, opts.StaleAfter/3)
	if opts.ID == "" {
		opts.ID = NewID()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	w := &Worker{store: store, jobs: registry, opts: opts, log: opts.Logger.With("worker", opts.ID), counter: &counter{}}
	return w
}

// NewID returns a worker id that is unique across hosts and restarts.
func NewID() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	rand.Read(b)
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
}

// Summary counts what a drain did.
type Summary struct {
	Ran       int // attempts that ran to an outcome
	Succeeded int
	Failed    int // attempts that ended their task failed
	Retried   int // failed attempts whose task will run again later
	Released  int // tasks put back unstarted or unfinished at shutdown
	Cancelled int
	Stale     int // outcomes dropped because another worker had taken the task over
	Recovered int // tasks taken back from dead workers
	Pruned    int // old finished tasks removed by retention
	Elapsed   time.Duration
}

// Rate is attempts per second.
func (s Summary) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Ran) / s.Elapsed.Seconds()
}

func (s *Summary) count(o queue.Outcome) {
	switch o.Kind {
	case queue.Succeed:
		s.Ran++
		s.Succeeded++
	case queue.Fail:
		s.Ran++
		if o.RetryAt.IsZero() {
			s.Failed++
		} else {
			s.Retried++
		}
	case queue.Release:
		s.Released++
	case queue.Cancel:
		s.Cancelled++
	}
}

// DrainOpts bounds a drain.
type DrainOpts struct {
	MaxTasks int           // stop claiming after this many tasks; 0 means no limit
	Deadline time.Duration // stop claiming after this long; 0 means no deadline
}

// Drain runs every due task and returns when none is due and none is running,
// after opts.MaxTasks, or at opts.Deadline. Cancelling ctx stops it the
// graceful way: no more claims, unstarted tasks released, running tasks
// given ShutdownGrace to finish and then abandoned (released); every outcome
// is written before Drain returns.
//
// Beside the loop, Drain applies Options.Retention (at once, then every
// Retention.Every, in small batches that never hold claims up for long) and
// reports Options.Progress.
func (w *Worker) Drain(ctx context.Context, opts DrainOpts) (Summary, error) {
	w.counter.reset()
	stopRetention := w.startRetention(ctx)
	done := make(chan struct{})
	var bg sync.WaitGroup
	bg.Go(func() { w.report(ctx, w.opts.Now(), opts.MaxTasks, done) })

	l := w.newLoop(opts, "drain")
	sum, err := l.run(ctx)
	close(done)
	bg.Wait()
	sum.Pruned = stopRetention().Deleted
	return sum, err
}

// stopped is shared by the loop and its goroutines.
type flags struct {
	stopping atomic.Bool // no task may start any more
}
