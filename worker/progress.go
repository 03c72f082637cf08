package worker

import (
	"context"
	"sync"
	"time"

	"github.com/sluicehq/sluice/queue"
)

// DefaultProgressEvery is how often a drain reports progress.
const DefaultProgressEvery = 10 * time.Second

// Progress is a drain's progress so far, reported every ProgressEvery.
type Progress struct {
	Done      int // attempts that reached an outcome (Succeeded + Failed + Retried)
	Succeeded int
	Failed    int // attempts that ended their task failed
	Retried   int
	// Remaining is due queued tasks plus the ones this worker has claimed
	// and not yet written back; -1 when the store cannot count them.
	Remaining int
	Elapsed   time.Duration
	Rate      float64       // Done per second since the drain started
	ETA       time.Duration // Remaining at Rate; 0 when unknown
}

// counter counts what the drain loop's exchanges did, for progress reports
// read beside the loop: the loop only adds to it, under a short lock.
type counter struct {
	mu  sync.Mutex
	sum Summary
}

// record counts one exchange's outcomes.
func (c *counter) record(outcomes []queue.Outcome, res queue.ExchangeResult) {
	stale := make(map[int64]bool, len(res.Stale))
	for _, o := range res.Stale {
		stale[o.ID] = true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, o := range outcomes {
		if !stale[o.ID] {
			c.sum.count(o)
		}
	}
	c.sum.Stale += len(res.Stale)
}

// reset starts counting a new drain.
func (c *counter) reset() {
	c.mu.Lock()
	c.sum = Summary{}
	c.mu.Unlock()
}

// snapshot returns the counts so far.
func (c *counter) snapshot() Summary {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sum
}

// ownerID is the id the worker's tasks are held under now.
func (w *Worker) ownerID() string {
	if id := w.owner.Load(); id != nil {
		return *id
	}
	return w.opts.ID
}

// progress builds a Progress report elapsed into the drain.
func (w *Worker) progress(ctx context.Context, elapsed time.Duration, maxTasks int) Progress {
	sum := w.counter.snapshot()
	p := Progress{Done: sum.Ran, Succeeded: sum.Succeeded, Failed: sum.Failed, Retried: sum.Retried,
		Remaining: -1, Elapsed: elapsed}
	if elapsed > 0 {
		p.Rate = float64(p.Done) / elapsed.Seconds()
	}
	if n, err := w.store.CountRemaining(ctx, w.opts.Queues, w.ownerID()); err == nil {
		p.Remaining = n
		if maxTasks > 0 {
			p.Remaining = min(p.Remaining, max(maxTasks-sum.Ran-sum.Released, 0))
		}
	}
	if p.Remaining >= 0 && p.Rate > 0 {
		p.ETA = time.Duration(float64(p.Remaining) / p.Rate * float64(time.Second))
	}
	return p
}

// report calls Options.Progress (or logs) every ProgressEvery until done
// closes or ctx ends. It runs beside the drain loop and only reads counters
// and one count query, so it never slows the loop down.
func (w *Worker) report(ctx context.Context, start time.Time, maxTasks int, done <-chan struct{}) {
	every := w.opts.ProgressEvery
	if every <= 0 {
		every = DefaultProgressEvery
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-done:
			return
		case <-ctx.Done():
			return
		}
		p := w.progress(ctx, w.opts.Now().Sub(start), maxTasks)
		if w.opts.Progress != nil {
			w.opts.Progress(p)
			continue
		}
		attrs := []any{"done", p.Done, "succeeded", p.Succeeded, "failed", p.Failed, "retried", p.Retried,
			"rate", float64(int(p.Rate*10)) / 10}
		if p.Remaining >= 0 {
			attrs = append(attrs, "remaining", p.Remaining)
		}
		if p.ETA > 0 {
			attrs = append(attrs, "eta", p.ETA.Round(time.Second))
		}
		w.log.Info("progress", attrs...)
	}
}
