package pgqueue_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/pgtest"
	"github.com/sluicehq/sluice/pgqueue"
	"github.com/sluicehq/sluice/queue"
)

// TestClaimConcurrently runs claimers on several stores (several pools, as
// several processes on several machines have) against one database: every
// task is claimed exactly once, and ends succeeded at its first attempt.
func TestClaimConcurrently(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	const (
		stores    = 4
		perStore  = 2
		tasks     = 2000
		claimSize = 25
	)
	ss := make([]*pgqueue.Store, stores)
	for i := range ss {
		ss[i] = openStore(t, url, nil) // the database's clock
	}
	ps := make([]queue.EnqueueParams, tasks)
	for i := range ps {
		ps[i] = queue.EnqueueParams{Job: "x", Priority: i % 3}
	}
	if _, err := ss[0].EnqueueMany(ctx, ps); err != nil {
		t.Fatal(err)
	}

	var (
		mu     sync.Mutex
		owner  = map[int64]string{}
		dupes  []string
		errs   = make(chan error, stores*perStore)
		starts = make(chan struct{})
		wg     sync.WaitGroup
	)
	for i, s := range ss {
		for j := range perStore {
			worker := fmt.Sprintf("store%d-claimer%d", i, j)
			wg.Go(func() {
				<-starts
				p := params
				p.Worker, p.Limit = worker, claimSize
				var outs []queue.Outcome
				for {
					res, err := s.Exchange(ctx, outs, p)
					if err != nil {
						errs <- fmt.Errorf("%s: %w", worker, err)
						return
					}
					if len(res.Stale) > 0 {
						errs <- fmt.Errorf("%s: %d stale outcomes", worker, len(res.Stale))
						return
					}
					outs = outs[:0]
					mu.Lock()
					for _, task := range res.Claimed {
						if prev, ok := owner[task.ID]; ok {
							dupes = append(dupes, fmt.Sprintf("task %d by %s and %s", task.ID, prev, worker))
						}
						owner[task.ID] = worker
						outs = append(outs, queue.Outcome{ID: task.ID, Attempt: task.Attempt, Kind: queue.Succeed})
					}
					mu.Unlock()
					if len(res.Claimed) == 0 {
						return
					}
				}
			})
		}
	}
	close(starts)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(dupes) > 0 {
		t.Fatalf("%d tasks claimed twice, e.g. %s", len(dupes), dupes[0])
	}
	if len(owner) != tasks {
		t.Errorf("%d tasks claimed; want %d", len(owner), tasks)
	}
	claimers := map[string]bool{}
	for _, w := range owner {
		claimers[w] = true
	}
	t.Logf("%d claimers took part", len(claimers))
	counts, err := ss[0].Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var attempts int
	if err := ss[0].Pool().QueryRow(ctx, "SELECT max(attempt) FROM tasks").Scan(&attempts); err != nil {
		t.Fatal(err)
	}
	if counts[queue.Succeeded] != tasks || attempts != 1 {
		t.Errorf("counts %v, max attempt %d; want %d succeeded at attempt 1", counts, attempts, tasks)
	}
}

// TestRecoverConcurrently expires the leases of a dead worker's tasks and
// lets several stores recover and claim at once: each lease is recovered
// once (one attempt counted) and each task claimed again once.
func TestRecoverConcurrently(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	clk := &clock{t: noon}
	ss := make([]*pgqueue.Store, 4)
	for i := range ss {
		ss[i] = openStore(t, url, clk)
	}
	const tasks = 200
	ps := make([]queue.EnqueueParams, tasks)
	for i := range ps {
		ps[i] = queue.EnqueueParams{Job: "x"}
	}
	if _, err := ss[0].EnqueueMany(ctx, ps); err != nil {
		t.Fatal(err)
	}
	dead := params
	dead.Worker, dead.Limit = "dead", tasks
	if got := exchange(t, ss[0], nil, dead); len(got.Claimed) != tasks {
		t.Fatalf("dead worker claimed %d; want %d", len(got.Claimed), tasks)
	}
	clk.Advance(time.Hour) // past every lease

	type result struct {
		recovered int
		claimed   []int64
		err       error
	}
	results := make(chan result, len(ss))
	var wg sync.WaitGroup
	for i, s := range ss {
		wg.Go(func() {
			p := params
			p.Worker, p.Limit = fmt.Sprint("live", i), tasks
			res, err := s.Exchange(ctx, nil, p)
			results <- result{res.Recovered, ids(res.Claimed), err}
		})
	}
	wg.Wait()
	close(results)
	recovered, claimed := 0, map[int64]int{}
	for r := range results {
		if r.err != nil {
			t.Fatal(r.err)
		}
		recovered += r.recovered
		for _, id := range r.claimed {
			claimed[id]++
		}
	}
	// Another exchange claims what SKIP LOCKED left to it.
	rest := exchange(t, ss[0], nil, queue.ClaimParams{Worker: "rest", Limit: tasks, DefaultTimeout: time.Minute, DefaultMaxAttempts: 3})
	recovered += rest.Recovered
	for _, id := range ids(rest.Claimed) {
		claimed[id]++
	}
	if recovered != tasks || len(claimed) != tasks {
		t.Fatalf("recovered %d, claimed %d distinct tasks; want %d and %d", recovered, len(claimed), tasks, tasks)
	}
	for id, n := range claimed {
		if n != 1 {
			t.Fatalf("task %d claimed %d times after recovery", id, n)
		}
	}
	var maxAttempt, histories int
	err := ss[0].Pool().QueryRow(ctx, `SELECT max(attempt), count(*) FILTER (WHERE jsonb_array_length(history) = 1) FROM tasks`).
		Scan(&maxAttempt, &histories)
	if err != nil {
		t.Fatal(err)
	}
	if maxAttempt != 2 || histories != tasks {
		t.Errorf("max attempt %d, %d tasks with one history entry; want 2 and %d", maxAttempt, histories, tasks)
	}
}

// TestSyncSchedulesConcurrently: processes starting at once with the same
// SLUICE_SCHEDULES take turns; one adds each schedule, the others find it
// unchanged, and none fails.
func TestSyncSchedulesConcurrently(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	clk := &clock{t: noon}
	ss := make([]*pgqueue.Store, 5)
	for i := range ss {
		ss[i] = openStore(t, url, clk)
	}
	declared := func() []queue.ScheduleParams {
		var ps []queue.ScheduleParams
		for _, name := range []string{"a", "b", "c"} {
			p := every10(name)
			p.Definition = "v1"
			ps = append(ps, p)
		}
		return ps
	}
	results := make([]queue.SyncResult, len(ss))
	errs := make([]error, len(ss))
	var wg sync.WaitGroup
	for i, s := range ss {
		wg.Go(func() { results[i], errs[i] = s.SyncSchedules(ctx, declared()) })
	}
	wg.Wait()
	added := 0
	for i := range ss {
		if errs[i] != nil {
			t.Fatalf("store %d: %v", i, errs[i])
		}
		added += len(results[i].Added)
		if len(results[i].Updated)+len(results[i].Removed) != 0 {
			t.Errorf("store %d: %+v; want nothing updated or removed", i, results[i])
		}
	}
	list, err := ss[0].ListSchedules(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if added != 3 || len(list) != 3 {
		t.Errorf("added %d in all, %d stored; want 3 and 3", added, len(list))
	}
}
