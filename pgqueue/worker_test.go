package pgqueue_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/pgtest"
	"github.com/sluicehq/sluice/jobs"
	"github.com/sluicehq/sluice/pgqueue"
	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/worker"
)

// The worker takes any store with queue.Store's method set; these tests
// run the real worker loop on pgqueue, in-process (the process and kill
// tests wait for SLUICE_DB=postgres://… in the CLI).

// TestDrainsShareOneDatabase: four drains, each with its own pool and
// several goroutines, run every task exactly once.
func TestDrainsShareOneDatabase(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	const drains, tasks = 4, 1000
	ps := make([]queue.EnqueueParams, tasks)
	for i := range ps {
		ps[i] = queue.EnqueueParams{Job: "echo_test", Payload: []byte(fmt.Sprintf(`{"i":%d}`, i))}
	}
	if _, err := openStore(t, url, nil).EnqueueMany(ctx, ps); err != nil {
		t.Fatal(err)
	}
	sums := make([]worker.Summary, drains)
	errs := make([]error, drains)
	var wg sync.WaitGroup
	for i := range drains {
		s := openStore(t, url, nil)
		w := worker.New(s, jobs.NewRegistry(), worker.Options{Workers: 4, ID: fmt.Sprint("drain", i)})
		wg.Go(func() { sums[i], errs[i] = w.Drain(ctx, worker.DrainOpts{}) })
	}
	wg.Wait()
	succeeded := 0
	for i := range drains {
		if errs[i] != nil {
			t.Fatalf("drain %d: %v", i, errs[i])
		}
		if sums[i].Stale != 0 || sums[i].Recovered != 0 {
			t.Errorf("drain %d: %+v; want no stale outcome, no recovery", i, sums[i])
		}
		succeeded += sums[i].Succeeded
	}
	s := openStore(t, url, nil)
	counts, err := s.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var maxAttempt int
	if err := s.Pool().QueryRow(ctx, "SELECT max(attempt) FROM tasks").Scan(&maxAttempt); err != nil {
		t.Fatal(err)
	}
	if succeeded != tasks || counts[queue.Succeeded] != tasks || maxAttempt != 1 {
		t.Errorf("drains succeeded %d, stored %v, max attempt %d; want each of %d tasks run once", succeeded, counts, maxAttempt, tasks)
	}
}

// TestRunWakesOnAnotherStoresEnqueue: a run loop that polls only every hour
// starts a task enqueued through another pool (another machine) at once:
// NOTIFY wakes it.
func TestRunWakesOnAnotherStoresEnqueue(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url := pgtest.URL(t)
	runner, producer := openStore(t, url, nil), openStore(t, url, nil)
	w := worker.New(runner, jobs.NewRegistry(), worker.Options{ID: "runner"})
	done := make(chan error, 1)
	go func() {
		_, err := w.Run(ctx, worker.RunOpts{Poll: time.Hour})
		done <- err
	}()
	// The listener is up once the runner is listening; only then is an
	// insert sure to reach it.
	waitListening(t, producer)
	id := mustEnqueue(t, producer, queue.EnqueueParams{Job: "echo_test", Payload: []byte(`{"hi":1}`)})
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	task, err := producer.Wait(wctx, id, queue.WaitOpts{Interval: 5 * time.Millisecond})
	if err != nil {
		t.Fatalf("task %d not done within 10s by a run loop polling hourly: %v", id, err)
	}
	if task.State != queue.Succeeded || string(task.Result) != `{"hi":1}` {
		t.Errorf("task = %s, result %s", task.State, task.Result)
	}
	cancel()
	if err := <-done; err != nil && ctx.Err() == nil {
		t.Errorf("run: %v", err)
	}
}

// waitListening waits until some session of the database LISTENs.
func waitListening(t *testing.T, s *pgqueue.Store) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		err := s.Pool().QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND query = 'LISTEN `+pgqueue.NotifyChannel+`'`).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no session listening within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
