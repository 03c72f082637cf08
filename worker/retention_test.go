package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/worker"
)

// recordingStore records every Prune call's result.
type recordingStore struct {
	*queue.Store
	mu     sync.Mutex
	passes []queue.Pruned
}

func (s *recordingStore) Prune(ctx context.Context, st queue.State, k queue.Keep, batch int) (queue.Pruned, error) {
	p, err := s.Store.Prune(ctx, st, k, batch)
	s.mu.Lock()
	s.passes = append(s.passes, p)
	s.mu.Unlock()
	return p, err
}

// insertHistory adds n tasks in state st, finished every step before the clock.
func insertHistory(tb testing.TB, e *env, st queue.State, n int, step time.Duration) {
	tb.Helper()
	_, err := e.store.DB().Write.Exec(`WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < ?1)
		INSERT INTO tasks (job, state, attempt, created_at, run_at, finished_at, duration_ms, result)
		SELECT 'probe', ?2, 1, 0, 0, ?3 - i * ?4, 3, '{}' FROM k`,
		n, string(st), e.clock.Now().UnixMilli(), step.Milliseconds())
	if err != nil {
		tb.Fatal(err)
	}
}

// TestRetentionOnALargeHistory drains a queue beside a large finished
// history: the first task starts while retention is still at work (it is
// timed for BENCHMARKS.md, not asserted), retention deletes in batches of at
// most 500, and the counts end where the limits say.
func TestRetentionOnALargeHistory(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	succeeded, failed := finishedVolume*3/5, finishedVolume*2/5
	insertHistory(t, e, queue.Succeeded, succeeded, 10*time.Second)
	insertHistory(t, e, queue.Failed, failed, 10*time.Second)
	const queued = 50
	for range queued {
		e.enqueue(t, queue.EnqueueParams{Job: "probe"})
	}
	keepAge := 7 * 24 * time.Hour
	wantSucceeded := min(succeeded, int(keepAge/(10*time.Second))) + queued // exactly 7d old stays; the drained ones are new
	wantFailed := 1000

	var (
		firstOnce sync.Once
		first     time.Duration
	)
	start := time.Now()
	e.jobs.Register("probe", func(ctx context.Context, p json.RawMessage) ([]byte, error) {
		firstOnce.Do(func() { first = time.Since(start) })
		return p, nil
	})
	store := &recordingStore{Store: e.store}
	e.opts.Retention = worker.Retention{Succeeded: queue.Keep{Age: keepAge}, Failed: queue.Keep{Age: 30 * keepAge, Count: wantFailed}}
	sum, err := worker.New(store, e.jobs, e.opts).Drain(ctx, worker.DrainOpts{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d finished tasks: first task started after %s; drain with retention took %s", finishedVolume, first, time.Since(start))

	counts, _ := e.store.Counts(ctx)
	if counts[queue.Succeeded] != wantSucceeded || counts[queue.Failed] != wantFailed || counts[queue.Queued] != 0 {
		t.Errorf("counts %v; want %d succeeded, %d failed, none queued", counts, wantSucceeded, wantFailed)
	}
	if want := succeeded + failed + queued - wantSucceeded - wantFailed; sum.Pruned != want {
		t.Errorf("summary pruned %d; want %d", sum.Pruned, want)
	}
	store.mu.Lock()
	defer store.mu.Unlock()
	var deleted, batches int
	for _, p := range store.passes {
		deleted += p.Deleted
		batches += p.Batches
	}
	if minBatches := (deleted + queue.DefaultPruneBatch - 1) / queue.DefaultPruneBatch; batches < minBatches || deleted != sum.Pruned {
		t.Errorf("retention deleted %d in %d batches; want batches of at most %d (%d or more)", deleted, batches, queue.DefaultPruneBatch, minBatches)
	}
}

// blockingStore's Prune waits until released: a drain must not wait for it.
type blockingStore struct {
	*queue.Store
	release chan struct{}
	started chan struct{}
}

func (s *blockingStore) Prune(ctx context.Context, st queue.State, k queue.Keep, batch int) (queue.Pruned, error) {
	close(s.started)
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	select {
	case <-s.release:
		return queue.Pruned{}, nil
	case <-deadline.C:
		return queue.Pruned{}, errors.New("not released: the drain waited for retention")
	}
}

func TestDrainDoesNotWaitForRetention(t *testing.T) {
	e := newEnv(t)
	id := e.enqueue(t, queue.EnqueueParams{Job: "probe"})
	store := &blockingStore{Store: e.store, release: make(chan struct{}), started: make(chan struct{})}
	e.jobs.Register("probe", func(ctx context.Context, p json.RawMessage) ([]byte, error) {
		<-store.started      // retention is under way...
		close(store.release) // ...and the task runs all the same
		return p, nil
	})
	e.opts.Retention = worker.Retention{Succeeded: queue.Keep{Count: 1}}
	sum := e.drainWith(t, store)
	if sum.Succeeded != 1 || e.get(t, id).State != queue.Succeeded {
		t.Fatalf("summary %+v; want the task to succeed while retention ran", sum)
	}
}

func (e *env) drainWith(tb testing.TB, s worker.Store) worker.Summary {
	tb.Helper()
	sum, err := worker.New(s, e.jobs, e.opts).Drain(context.Background(), worker.DrainOpts{})
	if err != nil {
		tb.Fatal(err)
	}
	return sum
}
