package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sluicehq/sluice/queue"
)

// flushTimeout bounds the final write of outcomes after a stop.
const flushTimeout = 10 * time.Second

// loop is one drain: a coordinator goroutine (run) that alone talks to the
// store, and Workers goroutines that only run tasks.
type loop struct {
	w      *Worker
	opts   DrainOpts
	flags  flags
	feed   chan queue.Task    // claimed tasks waiting for a goroutine
	done   chan queue.Outcome // outcomes waiting to be written
	avgDur time.Duration      // moving average of task durations, sizes prefetch
	active running            // attempts in progress, for operator cancels
	wg     sync.WaitGroup     // one count per slot of the pool (see work)
	// idle, when set, keeps the loop going when nothing is due: Run's mode.
	// Nil is Drain's mode: stop when nothing is due and nothing runs.
	idle  idler
	names map[int64]Done // job and queue of tasks in flight, for Options.OnOutcomes
}

// idler is what a long-running loop does besides claiming.
type idler interface {
	// wait returns when a claim may find work: something became due, was
	// enqueued in-process, or a poll interval passed with something due.
	// It returns ctx's error when ctx ends first.
	wait(ctx context.Context) error
	// beforeClaim runs before each claim while the loop is busy, so that
	// schedules fire even when the queue never runs dry.
	beforeClaim(ctx context.Context) error
}

func (w *Worker) newLoop(opts DrainOpts) *loop {
	capacity := w.opts.Workers + w.opts.Prefetch
	return &loop{
		w:    w,
		opts: opts,
		feed: make(chan queue.Task, capacity),
		done: make(chan queue.Outcome, capacity),
	}
}

// want returns how many tasks to claim now, given how many are in flight.
// Prefetch is sized so the claimed-but-waiting tasks are about 20 ms of work:
// fast tasks get large batches, slow ones are left for other processes.
func (l *loop) want(inflight int) int {
	prefetch := l.w.opts.Workers
	if l.avgDur > 0 {
		prefetch = int(int64(l.w.opts.Workers) * int64(20*time.Millisecond) / int64(l.avgDur))
	}
	prefetch = min(max(prefetch, 0), l.w.opts.Prefetch)
	return max(l.w.opts.Workers+prefetch-inflight, 0)
}

func (l *loop) observe(o queue.Outcome) {
	d := max(o.Duration, time.Microsecond)
	if l.avgDur == 0 {
		l.avgDur = d
		return
	}
	l.avgDur += (d - l.avgDur) / 16
}

func (l *loop) run(ctx context.Context) (Summary, error) {
	w := l.w
	start := time.Now()
	var sum Summary

	// Running tasks get a context that outlives ctx by the shutdown grace.
	runCtx, abandon := context.WithCancel(context.WithoutCancel(ctx))
	defer abandon()
	go w.watchCancels(runCtx, &l.active)
	for range w.opts.Workers {
		l.wg.Add(1)
		go l.work(runCtx)
	}

	var (
		pending   []queue.Outcome
		inflight  int // claimed and not yet reported
		claimed   int // in total
		claiming  = true
		exhausted bool // the last claim found fewer tasks than asked for
		stopC     = ctx.Done()
		graceC    <-chan time.Time
		deadlineC <-chan time.Time
		err       error
	)
	if l.opts.Deadline > 0 {
		t := time.NewTimer(l.opts.Deadline)
		defer t.Stop()
		deadlineC = t.C
	}
	// Writes must go through during a graceful stop; the busy timeout bounds them.
	wctx := context.WithoutCancel(ctx)
	// A run loop's waiter: at most one at a time, ended with the loop.
	idleCtx, stopIdle := context.WithCancel(ctx)
	defer stopIdle()
	var wakeC chan error
	params := queue.ClaimParams{
		Worker: w.opts.ID, Queues: w.opts.Queues, DefaultTimeout: w.opts.Timeout,
		DefaultMaxAttempts: w.opts.MaxAttempts, LeaseMargin: w.opts.LeaseMargin,
	}
loop:
	for {
		n := 0
		if claiming {
			n = l.want(inflight)
			if l.opts.MaxTasks > 0 {
				n = min(n, l.opts.MaxTasks-claimed)
			}
			if exhausted && len(pending) == 0 {
				n = 0 // nothing new can have become due that is worth a write transaction
			}
		}
		// While at least a round of tasks waits in the feed, the goroutines
		// are busy: let outcomes gather so one transaction writes a round of
		// them, instead of waking the writer for every task.
		hold := claiming && len(l.feed) >= w.opts.Workers && len(pending) < w.opts.Workers
		if hold {
			n = 0
		}
		if n > 0 && l.idle != nil {
			if err = l.idle.beforeClaim(ctx); err != nil && ctx.Err() == nil {
				break
			}
			err = nil
		}
		if n > 0 || len(pending) > 0 && !hold {
			p := params
			p.Limit = n
			res, xerr := w.store.Exchange(wctx, pending, p)
			if xerr != nil {
				err = xerr
				break
			}
			l.account(&sum, pending, res)
			pending = pending[:0]
			for _, t := range res.Claimed {
				l.feed <- t
			}
			inflight += len(res.Claimed)
			claimed += len(res.Claimed)
			exhausted = len(res.Claimed) < n
			if l.opts.MaxTasks > 0 && claimed >= l.opts.MaxTasks {
				claiming = false
			}
		}
		if inflight == 0 && (!claiming || (exhausted && l.idle == nil)) {
			break
		}
		if l.idle != nil && claiming && exhausted && wakeC == nil {
			wakeC = make(chan error, 1) // buffered: the waiter never blocks on a loop that left
			go func(c chan<- error) { c <- l.idle.wait(idleCtx) }(wakeC)
		}
		select {
		case werr := <-wakeC:
			wakeC = nil
			if werr != nil && ctx.Err() == nil {
				err = werr
				break loop
			}
			exhausted = false
		case o := <-l.done:
			before := len(pending)
			pending = l.collect(append(pending, o))
			inflight -= len(pending) - before
		case <-stopC:
			w.log.Info("stopping: no more claims, running tasks may finish", "grace", w.opts.ShutdownGrace, "running", inflight)
			stopC, claiming = nil, false
			l.flags.stopping.Store(true)
			t := time.NewTimer(w.opts.ShutdownGrace)
			defer t.Stop()
			graceC = t.C
		case <-graceC:
			w.log.Warn("shutdown grace over: abandoning running tasks", "running", inflight)
			graceC = nil
			abandon()
		case <-deadlineC:
			w.log.Info("drain deadline reached: no more claims", "deadline", l.opts.Deadline)
			deadlineC, claiming = nil, false
		}
	}

	// Wind down: no goroutine may block on a send once we stop reading.
	close(l.feed)
	if err != nil {
		abandon()
	}
	go func() { l.wg.Wait(); close(l.done) }()
	for o := range l.done {
		pending = append(pending, o)
	}
	if len(pending) > 0 {
		fctx, cancel := context.WithTimeout(wctx, flushTimeout)
		p := params
		p.Limit = 0
		res, ferr := w.store.Exchange(fctx, pending, p)
		cancel()
		if ferr != nil {
			err = errors.Join(err, fmt.Errorf("write %d final outcomes (their tasks run again when their leases expire): %w", len(pending), ferr))
		} else {
			l.account(&sum, pending, res)
		}
	}
	sum.Elapsed = time.Since(start)
	return sum, err
}

// collect takes every outcome already waiting, without blocking, so one
// transaction writes them all.
func (l *loop) collect(pending []queue.Outcome) []queue.Outcome {
	for {
		select {
		case o := <-l.done:
			pending = append(pending, o)
		default:
			return pending
		}
	}
}

// account adds written outcomes to the summary and logs dropped ones.
func (l *loop) account(sum *Summary, written []queue.Outcome, res queue.ExchangeResult) {
	l.w.counter.record(written, res) // for progress reports (progress.go)
	sum.Recovered += res.Recovered
	if res.Recovered > 0 {
		l.w.log.Warn("recovered tasks whose worker disappeared", "count", res.Recovered)
	}
	stale := make(map[int64]bool, len(res.Stale))
	for _, o := range res.Stale {
		stale[o.ID] = true
		if o.Kind == queue.Cancel {
			sum.Cancelled++ // the operator's cancel already wrote the outcome
			continue
		}
		sum.Stale++
		l.w.log.Warn("outcome dropped: the task's lease was taken over or it was cancelled",
			KeyTaskID, o.ID, KeyAttempt, o.Attempt)
	}
	for _, o := range written {
		l.observe(o)
		if !stale[o.ID] {
			sum.count(o)
		}
	}
	if l.w.opts.OnOutcomes == nil {
		return
	}
	if l.names == nil {
		l.names = make(map[int64]Done)
	}
	rep := Report{Recovered: res.Recovered, Done: make([]Done, 0, len(written))}
	for _, o := range written {
		d := l.names[o.ID]
		delete(l.names, o.ID)
		// An operator's cancel wrote the outcome already: it is a cancel, not a loss.
		d.Outcome, d.Stale = o, stale[o.ID] && o.Kind != queue.Cancel
		rep.Done = append(rep.Done, d)
	}
	for _, t := range res.Claimed {
		l.names[t.ID] = Done{Job: t.Job, Queue: t.Queue}
	}
	if len(rep.Done) > 0 || rep.Recovered > 0 {
		l.w.opts.OnOutcomes(rep)
	}
}
