package worker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/sluicehq/sluice/queue"
)

// coordinator is the one goroutine of a loop that talks to the store. Each
// turn it runs a round (claim sizing, then one exchange that heartbeats,
// writes outcomes and claims), then waits for one event: an outcome, the
// heartbeat deadline, a stop, the end of the grace, the drain deadline, or
// (Run) work to claim. Every step is a method.
type coordinator struct {
	*loop
	ctx      context.Context    // the caller's: its end stops claiming
	wctx     context.Context    // for writes: they go through during a graceful stop
	runCtx   context.Context    // running tasks': outlives ctx by the shutdown grace
	abandon  context.CancelFunc // ends runCtx
	idleCtx  context.Context    // a run loop's waiter's, ended with the loop
	stopIdle context.CancelFunc

	params    queue.ClaimParams // Worker is the current registration
	reborn    int               // registrations after the first (see lose)
	start     time.Time
	sum       Summary
	pending   []queue.Outcome // outcomes not written yet
	held      map[int64]bool  // claimed tasks not yet reported: true once marked started
	lost      map[int64]bool  // tasks of a lost registration whose attempts are stopping
	claimed   int             // tasks claimed in total
	claiming  bool
	exhausted bool // the last claim found fewer tasks than asked for
	beatDue   bool // the heartbeat deadline passed: exchange now

	beat      *time.Timer
	stopC     <-chan struct{}
	graceC    <-chan time.Time
	deadlineC <-chan time.Time
	wakeC     chan error // a run loop's waiter, while one waits
	timers    []*time.Timer
}

func (l *loop) newCoordinator(ctx context.Context) *coordinator {
	w := l.w
	c := &coordinator{
		loop: l, ctx: ctx, wctx: context.WithoutCancel(ctx),
		start: time.Now(), claiming: true, stopC: ctx.Done(),
		held: map[int64]bool{}, lost: map[int64]bool{},
		params: queue.ClaimParams{
			Worker: w.opts.ID, Queues: w.opts.Queues, DefaultTimeout: w.opts.Timeout,
			DefaultMaxAttempts: w.opts.MaxAttempts, LeaseMargin: w.opts.LeaseMargin, Registered: true,
		},
	}
	c.runCtx, c.abandon = context.WithCancel(context.WithoutCancel(ctx))
	c.idleCtx, c.stopIdle = context.WithCancel(ctx)
	c.beat = c.timer(w.opts.Heartbeat)
	if l.opts.Deadline > 0 {
		c.deadlineC = c.timer(l.opts.Deadline).C
	}
	return c
}

// timer starts a timer that release stops.
func (c *coordinator) timer(d time.Duration) *time.Timer {
	t := time.NewTimer(d)
	c.timers = append(c.timers, t)
	return t
}

// release ends what the coordinator started.
func (c *coordinator) release() {
	c.abandon()
	c.stopIdle()
	for _, t := range c.timers {
		t.Stop()
	}
}

// register records this worker under its current id.
func (c *coordinator) register() error {
	id := c.params.Worker
	c.w.owner.Store(&id)
	host, _ := os.Hostname()
	return c.w.store.Register(c.wctx, queue.WorkerInfo{ID: c.params.Worker, Host: host, PID: os.Getpid(),
		Version: c.w.opts.Version, Command: c.command, StaleAfter: c.w.opts.StaleAfter})
}

// coordinate runs rounds until nothing is left to do, or an error.
func (c *coordinator) coordinate() error {
	for {
		if err := c.round(); err != nil {
			return err
		}
		if c.finished() {
			return nil
		}
		if err := c.await(); err != nil {
			return err
		}
	}
}

// round makes the exchange that is due now, if any.
func (c *coordinator) round() error {
	n := c.claimSize()
	if n > 0 && c.idle != nil {
		if err := c.idle.beforeClaim(c.ctx); err != nil && c.ctx.Err() == nil {
			return err
		}
	}
	if n > 0 || c.beatDue || len(c.pending) > 0 && !c.hold() {
		return c.exchange(n)
	}
	return nil
}

func (c *coordinator) inflight() int { return len(c.held) + len(c.lost) }

// hold reports whether outcomes should gather: while at least a round of
// tasks waits in the feed the goroutines are busy, so one transaction can
// write a round of outcomes instead of waking the writer for every task.
// The heartbeat bounds the wait.
func (c *coordinator) hold() bool {
	return c.claiming && len(c.feed) >= c.w.opts.Workers && len(c.pending) < c.w.opts.Workers
}

// claimSize is how many tasks to claim now.
func (c *coordinator) claimSize() int {
	if !c.claiming || len(c.lost) > 0 || c.hold() {
		return 0 // lost: a task must not come back while its old attempt stops
	}
	if c.exhausted && len(c.pending) == 0 {
		return 0 // nothing new can have become due that is worth a write transaction
	}
	n := c.want(c.inflight())
	if c.opts.MaxTasks > 0 {
		n = min(n, c.opts.MaxTasks-c.claimed)
	}
	return n
}

// exchange heartbeats, writes the pending outcomes, marks started tasks and
// claims up to n tasks, in one transaction.
func (c *coordinator) exchange(n int) error {
	p := c.params
	p.Limit = n
	p.Starts = max(c.w.opts.Workers-c.inflight(), 0) // idle goroutines take these at once
	p.Started = c.newlyStarted()
	res, err := c.w.store.Exchange(c.wctx, c.pending, p)
	if err != nil {
		return err
	}
	c.beatDue = false
	c.beat.Reset(c.w.opts.Heartbeat)
	if res.Lost {
		return c.lose()
	}
	c.account(&c.sum, c.pending, res)
	c.pending = c.pending[:0]
	for _, id := range p.Started {
		c.held[id] = true
	}
	for i, t := range res.Claimed {
		c.held[t.ID] = i < p.Starts
		c.feed <- t
	}
	c.claimed += len(res.Claimed)
	c.exhausted = len(res.Claimed) < n
	if c.opts.MaxTasks > 0 && c.claimed >= c.opts.MaxTasks {
		c.claiming = false
	}
	return nil
}

// newlyStarted lists the held tasks that started since they were claimed
// into the prefetch, so the exchange records them started.
func (c *coordinator) newlyStarted() []int64 {
	var ids []int64
	for _, id := range c.active.ids() {
		if started, ok := c.held[id]; ok && !started {
			ids = append(ids, id)
		}
	}
	return ids
}

// lose handles an exchange that found this worker's registration gone:
// another worker judged it dead (it stalled, or a clock stepped) and took
// back every task it held. Their attempts are stopped at once and their
// outcomes dropped; the worker registers again under a new id and claims
// again once every old attempt has stopped.
func (c *coordinator) lose() error {
	old := c.params.Worker
	c.w.log.Error("this worker was judged dead and its tasks were taken over: stopping their attempts",
		"held", len(c.held), "unwritten_outcomes", len(c.pending))
	c.drop(c.pending)
	c.pending = c.pending[:0]
	for id := range c.held {
		c.lost[id] = true
	}
	clear(c.held)
	c.active.disown(old)
	c.reborn++
	c.params.Worker = fmt.Sprintf("%s.%d", c.w.opts.ID, c.reborn)
	c.exhausted = false
	return c.register()
}

// drop accounts for outcomes that are not written: their tasks belong to
// another worker now.
func (c *coordinator) drop(outcomes []queue.Outcome) {
	if len(outcomes) > 0 {
		c.account(&c.sum, outcomes, queue.ExchangeResult{Stale: outcomes})
	}
}

// finished reports whether the loop is done: nothing in flight, and no more
// claims (stopped, or a drain found nothing due).
func (c *coordinator) finished() bool {
	return c.inflight() == 0 && (!c.claiming || (c.exhausted && c.idle == nil))
}

// await waits for the next event and handles it.
func (c *coordinator) await() error {
	if c.idle != nil && c.claiming && c.exhausted && c.wakeC == nil {
		c.wakeC = make(chan error, 1) // buffered: the waiter never blocks on a loop that left
		go func(ch chan<- error) { ch <- c.idle.wait(c.idleCtx) }(c.wakeC)
	}
	select {
	case err := <-c.wakeC:
		c.wakeC = nil
		if err != nil && c.ctx.Err() == nil {
			return err
		}
		c.exhausted = false
	case o := <-c.done:
		c.collect(o)
	case <-c.beat.C:
		c.beatDue = true
	case <-c.stopC:
		c.stop()
	case <-c.graceC:
		c.graceOver()
	case <-c.deadlineC:
		c.w.log.Info("drain deadline reached: no more claims", "deadline", c.opts.Deadline)
		c.deadlineC, c.claiming = nil, false
	}
	return nil
}

// collect takes o and every other outcome already waiting, without
// blocking, so one transaction writes them all.
func (c *coordinator) collect(o queue.Outcome) {
	for {
		c.report(o)
		select {
		case o = <-c.done:
		default:
			return
		}
	}
}

// report takes one attempt's outcome: pending for the next exchange, or
// dropped when its task was lost to another worker.
func (c *coordinator) report(o queue.Outcome) {
	if c.lost[o.ID] {
		delete(c.lost, o.ID)
		c.drop([]queue.Outcome{o})
		return
	}
	delete(c.held, o.ID)
	c.pending = append(c.pending, o)
}

// stop begins a graceful stop: no more claims; running tasks may finish
// within the shutdown grace.
func (c *coordinator) stop() {
	c.w.log.Info("stopping: no more claims, running tasks may finish", "grace", c.w.opts.ShutdownGrace, "running", c.inflight())
	c.stopC, c.claiming = nil, false
	c.flags.stopping.Store(true)
	c.graceC = c.timer(c.w.opts.ShutdownGrace).C
}

// graceOver abandons the attempts still running after the shutdown grace.
func (c *coordinator) graceOver() {
	c.w.log.Warn("shutdown grace over: abandoning running tasks", "running", c.inflight())
	c.graceC = nil
	c.abandon()
}

// windDown stops the goroutines, writes the last outcomes and unregisters
// (which returns to the queue anything still held, as for a dead worker).
func (c *coordinator) windDown(err error) (Summary, error) {
	close(c.feed) // no goroutine may block on a send once we stop reading
	if err != nil {
		c.abandon()
	}
	go func() { c.wg.Wait(); close(c.done) }()
	for o := range c.done {
		c.report(o)
	}
	// Final bookkeeping must go through after a stop, within a bound.
	fctx, cancel := context.WithTimeout(c.wctx, flushTimeout)
	defer cancel()
	if len(c.pending) > 0 {
		p := c.params
		p.Limit = 0
		res, ferr := c.w.store.Exchange(fctx, c.pending, p)
		switch {
		case ferr != nil:
			err = errors.Join(err, fmt.Errorf("write %d final outcomes (their tasks go back to the queue when this worker is judged dead): %w", len(c.pending), ferr))
		case res.Lost:
			c.drop(c.pending)
		default:
			c.account(&c.sum, c.pending, res)
		}
	}
	n, uerr := c.w.store.Unregister(fctx, c.params.Worker, c.w.opts.MaxAttempts)
	if uerr != nil {
		err = errors.Join(err, uerr)
	}
	c.sum.Recovered += n
	c.sum.Elapsed = time.Since(c.start)
	return c.sum, err
}
