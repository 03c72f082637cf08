package worker

import (
	"context"
	"sync"
	"time"

	"github.com/sluicehq/sluice/queue"
)

// flushTimeout bounds the final write of outcomes after a stop.
const flushTimeout = 10 * time.Second

// loop is one drain or run: a coordinator goroutine (coordinator.go) that
// alone talks to the store, and Workers goroutines that only run tasks.
type loop struct {
	w      *Worker
	opts   DrainOpts
	flags  flags
	feed   chan queue.Task    // claimed tasks waiting for a goroutine
	done   chan queue.Outcome // outcomes waiting to be written
	avgDur time.Duration      // moving average of task durations, sizes prefetch
	active running            // attempts in progress, for operator cancels and lost tasks
	wg     sync.WaitGroup     // one count per slot of the pool (see work)
	// idle, when set, keeps the loop going when nothing is due: Run's mode.
	// Nil is Drain's mode: stop when nothing is due and nothing runs.
	idle  idler
	names map[int64]Done // job and queue of tasks in flight, for Options.OnOutcomes
	// command is what the worker registers as: drain or run.
	command string
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

func (w *Worker) newLoop(opts DrainOpts, command string) *loop {
	capacity := w.opts.Workers + w.opts.Prefetch
	return &loop{
		w:       w,
		opts:    opts,
		command: command,
		feed:    make(chan queue.Task, capacity),
		done:    make(chan queue.Outcome, capacity),
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

// run registers the worker, coordinates until the loop is done, winds down
// and unregisters.
func (l *loop) run(ctx context.Context) (Summary, error) {
	c := l.newCoordinator(ctx)
	defer c.release()
	if err := c.register(); err != nil {
		return Summary{}, err
	}
	go l.w.watchCancels(c.runCtx, &l.active)
	for range l.w.opts.Workers {
		l.wg.Add(1)
		go l.work(c.runCtx)
	}
	return c.windDown(c.coordinate())
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
		l.w.log.Warn("outcome dropped: another worker took the task over, or it was cancelled",
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
