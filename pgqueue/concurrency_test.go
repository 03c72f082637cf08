package pgqueue_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

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

// TestDeadWorkersAmongLiveOnes: live registered workers, each on its own
// pool, drain the queue together while three workers that claimed tasks
// (some started, some still in their prefetch) stop heartbeating. The live
// ones, starting at once, all find the dead ones stale: each dead worker is
// judged dead once and each of its tasks taken back once (started ones
// charged, prefetched ones not); every task then runs exactly once more.
// The dead workers' late outcomes are refused as lost.
func TestDeadWorkersAmongLiveOnes(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	clk := &clock{t: noon}
	const (
		live, dead       = 4, 3
		tasks            = 600
		perDead, started = 20, 5 // each dead worker holds perDead tasks, the first started ones running
		claimSize        = 16
	)
	ps := make([]queue.EnqueueParams, tasks)
	for i := range ps {
		ps[i] = queue.EnqueueParams{Job: "x"}
	}
	if _, err := openStore(t, url, clk).EnqueueMany(ctx, ps); err != nil {
		t.Fatal(err)
	}
	reg := func(s *pgqueue.Store, id string, staleAfter time.Duration) queue.ClaimParams {
		t.Helper()
		if err := s.Register(ctx, queue.WorkerInfo{ID: id, Host: "h", PID: 1, Version: "test", Command: "drain",
			StaleAfter: staleAfter}); err != nil {
			t.Fatal(err)
		}
		p := params
		p.Worker, p.Registered = id, true
		return p
	}
	// The dead workers claim, then go silent; their stale limit passes.
	deadParams := make([]queue.ClaimParams, dead)
	deadHeld := map[int64]bool{} // task: started
	deadClaims := map[string][]queue.Task{}
	for i := range deadParams {
		s := openStore(t, url, clk)
		p := reg(s, fmt.Sprint("dead", i), time.Second)
		p.Limit, p.Starts = perDead, started
		claimed := exchange(t, s, nil, p).Claimed
		if len(claimed) != perDead {
			t.Fatalf("dead worker %d claimed %d; want %d", i, len(claimed), perDead)
		}
		for j, task := range claimed {
			deadHeld[task.ID] = j < started
		}
		deadParams[i], deadClaims[p.Worker] = p, claimed
	}
	clk.Advance(time.Second)

	type result struct {
		recovered int
		ran       []int64
		err       error
	}
	results := make(chan result, live)
	begin := make(chan struct{})
	var wg sync.WaitGroup
	for i := range live {
		s := openStore(t, url, clk)
		p := reg(s, fmt.Sprint("live", i), time.Hour)
		p.Limit, p.Starts = claimSize, claimSize
		wg.Go(func() {
			<-begin
			var (
				r    result
				outs []queue.Outcome
			)
			for {
				res, err := s.Exchange(ctx, outs, p)
				if err == nil && (res.Lost || len(res.Stale) > 0) {
					err = fmt.Errorf("%s: lost %v, %d stale outcomes", p.Worker, res.Lost, len(res.Stale))
				}
				if err != nil {
					r.err = err
					break
				}
				r.recovered += res.Recovered
				outs = outs[:0]
				for _, task := range res.Claimed {
					r.ran = append(r.ran, task.ID)
					outs = append(outs, queue.Outcome{ID: task.ID, Attempt: task.Attempt, Kind: queue.Succeed})
				}
				if len(res.Claimed) == 0 {
					break
				}
			}
			results <- r
		})
	}
	close(begin)
	wg.Wait()
	close(results)
	recovered, ran := 0, map[int64]int{}
	for r := range results {
		if r.err != nil {
			t.Fatal(r.err)
		}
		recovered += r.recovered
		for _, id := range r.ran {
			ran[id]++
		}
	}
	if recovered != len(deadHeld) {
		t.Errorf("recovered %d in all; want the dead workers' %d tasks, once each", recovered, len(deadHeld))
	}
	if len(ran) != tasks {
		t.Errorf("%d tasks ran; want %d", len(ran), tasks)
	}
	for id, n := range ran {
		if n != 1 {
			t.Errorf("task %d ran %d times", id, n)
		}
	}

	s := openStore(t, url, clk)
	rows, err := s.Pool().Query(ctx, `SELECT id, state, attempt, recoveries,
		(SELECT count(*) FROM jsonb_array_elements(history) h WHERE h ->> 'outcome' LIKE 'worker_died%') FROM tasks`)
	if err != nil {
		t.Fatal(err)
	}
	var id, attempt, recoveries, died int64
	var state string
	_, err = pgx.ForEachRow(rows, []any{&id, &state, &attempt, &recoveries, &died}, func() error {
		wantAttempt, wantRecoveries := int64(1), int64(0)
		if st, held := deadHeld[id]; held {
			wantRecoveries = 1
			if st {
				wantAttempt = 2 // the dead worker's started attempt is charged
			}
		}
		if state != "succeeded" || attempt != wantAttempt || recoveries != wantRecoveries || died != wantRecoveries {
			t.Errorf("task %d: %s, attempt %d, recovered %d times (%d history entries); want succeeded, %d, %d",
				id, state, attempt, recoveries, died, wantAttempt, wantRecoveries)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ws, err := s.Workers(ctx)
	if err != nil || len(ws) != live {
		t.Errorf("workers %+v, %v; want the %d live ones", ws, err, live)
	}
	// A dead worker waking up is told it lost its tasks; its outcomes are dropped.
	for _, p := range deadParams {
		var outs []queue.Outcome
		for _, task := range deadClaims[p.Worker] {
			outs = append(outs, queue.Outcome{ID: task.ID, Attempt: task.Attempt, Kind: queue.Fail, Error: "late"})
		}
		if res := exchange(t, s, outs, p); !res.Lost {
			t.Errorf("%s: exchange = %+v; want lost", p.Worker, res)
		}
	}
	counts, err := s.Counts(ctx)
	if err != nil || counts[queue.Succeeded] != tasks {
		t.Errorf("counts %v, %v; want all %d succeeded after the dead workers' late outcomes", counts, err, tasks)
	}
}
