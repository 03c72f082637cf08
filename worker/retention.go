package worker

import (
	"context"
	"sync"
	"time"

	"github.com/sluicehq/sluice/queue"
)

// DefaultRetentionEvery is how often a long drain, or a run, applies
// retention again.
const DefaultRetentionEvery = time.Minute

// Retention says which finished tasks a drain or a run removes, per final state
// (SLUICE_KEEP_SUCCEEDED and SLUICE_KEEP_FAILED). The zero value removes nothing.
type Retention struct {
	Succeeded queue.Keep
	Failed    queue.Keep
	Cancelled queue.Keep
	// Every is the time between passes during a drain or a run; the first
	// pass starts with it. Default DefaultRetentionEvery.
	Every time.Duration
	// Batch is how many tasks one write transaction deletes; default
	// queue.DefaultPruneBatch. Claims wait for at most one batch.
	Batch int
}

// IsZero reports whether r removes nothing.
func (r Retention) IsZero() bool {
	return r.Succeeded.IsZero() && r.Failed.IsZero() && r.Cancelled.IsZero()
}

// startRetention applies Options.Retention beside a drain or a run, when
// the retention removes something. The returned func ends it (after the
// pass under way) and returns what it removed.
func (w *Worker) startRetention(ctx context.Context) (stop func() queue.Pruned) {
	if w.opts.Retention.IsZero() {
		return func() queue.Pruned { return queue.Pruned{} }
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	var pruned queue.Pruned
	wg.Go(func() { pruned = w.retain(ctx, w.store, done) })
	return func() queue.Pruned {
		close(done)
		wg.Wait()
		return pruned
	}
}

// retain applies retention while a drain runs: a pass at once, then one
// every r.Every, each in small transactions beside the drain's own (SQLite
// has one writer: a claim waits for at most one batch). After done closes it
// finishes the pass under way and returns what all passes removed; a
// cancelled ctx stops it between batches.
func (w *Worker) retain(ctx context.Context, p Store, done <-chan struct{}) queue.Pruned {
	r := w.opts.Retention
	every := r.Every
	if every <= 0 {
		every = DefaultRetentionEvery
	}
	var total queue.Pruned
	for {
		for _, s := range []struct {
			st   queue.State
			keep queue.Keep
		}{{queue.Succeeded, r.Succeeded}, {queue.Failed, r.Failed}, {queue.Cancelled, r.Cancelled}} {
			if s.keep.IsZero() {
				continue
			}
			n, err := p.Prune(ctx, s.st, s.keep, r.Batch)
			total.Deleted += n.Deleted
			total.Batches += n.Batches
			if err != nil && ctx.Err() == nil {
				// Retention is upkeep: a failed pass is retried at the next one.
				w.log.Warn("retention pass failed", "state", s.st, KeyErr, err)
			}
			if n.Deleted > 0 {
				w.log.Debug("retention removed finished tasks", "state", s.st, "count", n.Deleted, "batches", n.Batches)
			}
		}
		t := time.NewTimer(every)
		select {
		case <-t.C:
		case <-done:
			t.Stop()
			return total
		case <-ctx.Done():
			t.Stop()
			return total
		}
	}
}
