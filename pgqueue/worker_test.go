package pgqueue_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

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

// TestLostWorkerStopsItsAttempts: a drain on PostgreSQL that another
// worker judged dead (its registration gone, its tasks another's) learns it
// at its next heartbeat: it stops the running attempt, never starts the
// prefetched one, drops both outcomes (counted stale), registers again and
// ends without error.
func TestLostWorkerStopsItsAttempts(t *testing.T) {
	ctx := context.Background()
	s := mustStore(t, nil)
	reg := jobs.NewRegistry()
	started := make(chan struct{}, 2)
	stopped := make(chan error, 2)
	reg.Register("block", func(ctx context.Context, _ json.RawMessage) ([]byte, error) {
		started <- struct{}{}
		<-ctx.Done()
		stopped <- context.Cause(ctx)
		return nil, ctx.Err()
	})
	held := mustEnqueue(t, s, queue.EnqueueParams{Job: "block"})
	waiting := mustEnqueue(t, s, queue.EnqueueParams{Job: "block"})
	opts := worker.Options{Workers: 1, Prefetch: 1, Heartbeat: 10 * time.Millisecond, StaleAfter: time.Minute, ID: "lost"}
	type result struct {
		sum worker.Summary
		err error
	}
	done := make(chan result, 1)
	go func() {
		sum, err := worker.New(s, reg, opts).Drain(ctx, worker.DrainOpts{})
		done <- result{sum, err}
	}()
	<-started
	// As if judged dead and taken over, in one transaction: its
	// registration goes, another worker holds its tasks.
	if err := s.Register(ctx, queue.WorkerInfo{ID: "other", StaleAfter: time.Hour}); err != nil {
		t.Fatal(err)
	}
	err := pgx.BeginFunc(ctx, s.Pool(), func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM workers WHERE id = 'lost'`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE tasks SET worker = 'other', attempt = attempt + 1 WHERE state = 'running'`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r.err != nil || r.sum.Stale != 2 || r.sum.Ran != 0 {
			t.Errorf("drain = %+v, %v; want 2 outcomes dropped, none run", r.sum, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the lost worker's drain did not end")
	}
	if len(started) != 0 {
		t.Error("the lost worker started the prefetched task")
	}
	if len(stopped) != 1 {
		t.Error("the lost worker's running attempt was not stopped")
	}
	for _, id := range []int64{held, waiting} {
		if task, err := s.Get(ctx, id); err != nil || task.State != queue.Running || task.Worker != "other" {
			t.Errorf("task %d: %s under %q, %v; want running under other", id, task.State, task.Worker, err)
		}
	}
	if ws, err := s.Workers(ctx); err != nil || len(ws) != 1 || ws[0].ID != "other" {
		t.Errorf("workers %+v, %v; want other alone (the lost one unregistered)", ws, err)
	}
}

// TestHeartbeatWhileTasksRun: a drain on PostgreSQL busy with one long task
// keeps its heartbeat fresh (on the database's clock), and is listed by
// Workers with the task it holds.
func TestHeartbeatWhileTasksRun(t *testing.T) {
	ctx := context.Background()
	s := mustStore(t, nil)
	reg := jobs.NewRegistry()
	release, started := make(chan struct{}), make(chan struct{})
	reg.Register("block", func(ctx context.Context, _ json.RawMessage) ([]byte, error) {
		close(started)
		<-release
		return nil, nil
	})
	id := mustEnqueue(t, s, queue.EnqueueParams{Job: "block"})
	opts := worker.Options{Heartbeat: 5 * time.Millisecond, StaleAfter: time.Hour, ID: "beating"}
	done := make(chan error, 1)
	go func() {
		_, err := worker.New(s, reg, opts).Drain(ctx, worker.DrainOpts{})
		done <- err
	}()
	<-started
	beat := func() queue.WorkerInfo {
		t.Helper()
		ws, err := s.Workers(ctx)
		if err != nil || len(ws) != 1 {
			t.Fatalf("workers %+v, %v", ws, err)
		}
		return ws[0]
	}
	first := beat()
	if first.ID != "beating" || len(first.Tasks) != 1 || first.Tasks[0] != id {
		t.Errorf("worker %+v; want beating holding task %d", first, id)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !beat().HeartbeatAt.After(first.HeartbeatAt) {
		if time.Now().After(deadline) {
			t.Fatal("no heartbeat while the task ran")
		}
		time.Sleep(time.Millisecond) // poll interval
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if ws, err := s.Workers(ctx); err != nil || len(ws) != 0 {
		t.Errorf("workers after the drain: %+v, %v; want none (unregistered)", ws, err)
	}
}
