package worker_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/worker"
)

// TestLostWorkerStopsItsAttempts: when another worker judges this one dead
// and takes its tasks over, the next heartbeat tells it: it stops the
// running attempt and never starts the prefetched one, drops both outcomes
// (counted as stale), registers again and ends its drain without error.
func TestLostWorkerStopsItsAttempts(t *testing.T) {
	e := newEnv(t)
	started := make(chan struct{}, 2)
	stopped := make(chan error, 2)
	e.jobs.Register("block", func(ctx context.Context, _ json.RawMessage) ([]byte, error) {
		started <- struct{}{}
		<-ctx.Done()
		stopped <- context.Cause(ctx)
		return nil, ctx.Err()
	})
	held := e.enqueue(t, queue.EnqueueParams{Job: "block"})
	waiting := e.enqueue(t, queue.EnqueueParams{Job: "block"})
	e.opts.Workers, e.opts.Prefetch = 1, 1
	e.opts.Heartbeat, e.opts.StaleAfter, e.opts.ID = 10*time.Millisecond, time.Minute, "lost"

	type result struct {
		sum worker.Summary
		err error
	}
	done := make(chan result, 1)
	go func() {
		sum, err := worker.New(e.store, e.jobs, e.opts).Drain(context.Background(), worker.DrainOpts{})
		done <- result{sum, err}
	}()
	<-started
	// As if judged dead and taken over, in one transaction (with the queue's
	// own recovery and claim in two, the lost worker could claim the tasks
	// back in between): its registration goes, another worker holds its tasks.
	if err := e.store.Register(context.Background(), queue.WorkerInfo{ID: "other", StaleAfter: time.Hour}); err != nil {
		t.Fatal(err)
	}
	tx, err := e.store.DB().Write.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DELETE FROM workers WHERE id = 'lost'`,
		`UPDATE tasks SET worker = 'other', attempt = attempt + 1 WHERE state = 'running'`} {
		if _, err := tx.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
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
		if task := e.get(t, id); task.State != queue.Running || task.Worker != "other" {
			t.Errorf("task %d: %s under %q; want running under other", id, task.State, task.Worker)
		}
	}
	workers, _ := e.store.Workers(context.Background())
	if len(workers) != 1 || workers[0].ID != "other" {
		t.Errorf("workers %+v; want other alone (the lost one unregistered)", workers)
	}
}

// TestHeartbeatWhileTasksRun: a drain busy with one long task keeps its
// heartbeat fresh, so no other worker can take its tasks.
func TestHeartbeatWhileTasksRun(t *testing.T) {
	e := newEnv(t)
	e.opts.Now = time.Now // heartbeats at real time
	s := queue.New(e.store.DB(), queue.NewOpts{})
	release := make(chan struct{})
	started := make(chan struct{})
	e.jobs.Register("block", func(ctx context.Context, _ json.RawMessage) ([]byte, error) {
		close(started)
		<-release
		return nil, nil
	})
	e.enqueue(t, queue.EnqueueParams{Job: "block"})
	e.opts.Heartbeat, e.opts.StaleAfter = 5*time.Millisecond, time.Hour
	done := make(chan error, 1)
	go func() {
		_, err := worker.New(s, e.jobs, e.opts).Drain(context.Background(), worker.DrainOpts{})
		done <- err
	}()
	<-started
	first := heartbeatAt(t, s)
	deadline := time.Now().Add(10 * time.Second)
	for !heartbeatAt(t, s).After(first) {
		if time.Now().After(deadline) {
			t.Fatal("no heartbeat while the task ran")
		}
		time.Sleep(time.Millisecond) // poll interval
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func heartbeatAt(t *testing.T, s *queue.Store) time.Time {
	t.Helper()
	ws, err := s.Workers(context.Background())
	if err != nil || len(ws) != 1 {
		t.Fatalf("workers %+v, %v", ws, err)
	}
	return ws[0].HeartbeatAt
}
