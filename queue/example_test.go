package queue_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/sluicehq/sluice/jobs"
	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/worker"
)

// openExample opens a queue in a fresh folder; the caller removes it.
func openExample() (*queue.Store, string) {
	dir, err := os.MkdirTemp("", "sluice-example-")
	if err != nil {
		log.Fatal(err)
	}
	store, err := queue.Open(context.Background(), filepath.Join(dir, "sluice.db"))
	if err != nil {
		log.Fatal(err)
	}
	return store, dir
}

// A Go program enqueues a task, drains the queue with its own handlers and
// reads the result back.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "sluice-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	store, err := queue.Open(ctx, filepath.Join(dir, "sluice.db")) // created, migrated, in WAL mode
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	reg := jobs.NewRegistry() // holds the built-in echo_test
	reg.Register("greet", func(ctx context.Context, payload json.RawMessage) ([]byte, error) {
		var p struct{ Name string }
		if err := json.Unmarshal(payload, &p); err != nil {
			return nil, jobs.Permanent(err) // retrying cannot fix a bad payload
		}
		return json.Marshal("hello, " + p.Name)
	})

	id, err := store.Enqueue(ctx, queue.EnqueueParams{Job: "greet", Payload: json.RawMessage(`{"name":"Ada"}`)})
	if err != nil {
		log.Fatal(err)
	}
	sum, err := worker.New(store, reg, worker.Options{Workers: 2}).Drain(ctx, worker.DrainOpts{})
	if err != nil {
		log.Fatal(err)
	}
	task, err := store.Get(ctx, id)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(sum.Succeeded, "succeeded")
	fmt.Println(task.State, string(task.Result), "after", task.Attempt, "attempt")
	// Output:
	// 1 succeeded
	// succeeded "hello, Ada" after 1 attempt
}

// EnqueueTx adds a task inside the caller's transaction: the task exists
// only if the application's own write commits.
func ExampleStore_EnqueueTx() {
	store, dir := openExample()
	defer os.RemoveAll(dir)
	defer store.Close()
	ctx := context.Background()
	db := store.DB().Write // the one writer connection: every BeginTx is BEGIN IMMEDIATE
	if _, err := db.ExecContext(ctx, "CREATE TABLE orders (id INTEGER PRIMARY KEY, email TEXT NOT NULL)"); err != nil {
		log.Fatal(err)
	}

	placeOrder := func(email string, fail bool) error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		res, err := tx.ExecContext(ctx, "INSERT INTO orders (email) VALUES (?)", email)
		if err != nil {
			return err
		}
		order, _ := res.LastInsertId()
		payload, _ := json.Marshal(map[string]any{"order": order, "to": email})
		if _, err := store.EnqueueTx(ctx, tx, queue.EnqueueParams{Job: "send_receipt", Payload: payload}); err != nil {
			return err
		}
		if fail {
			return fmt.Errorf("payment declined")
		}
		return tx.Commit()
	}
	fmt.Println(placeOrder("ada@example.com", false))
	fmt.Println(placeOrder("bob@example.com", true))
	counts, err := store.Counts(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(counts[queue.Queued], "receipt queued")
	// Output:
	// <nil>
	// payment declined
	// 1 receipt queued
}

// EnqueueMany adds many tasks in one transaction, each with its own options.
func ExampleStore_EnqueueMany() {
	store, dir := openExample()
	defer os.RemoveAll(dir)
	defer store.Close()
	ctx := context.Background()

	ids, err := store.EnqueueMany(ctx, []queue.EnqueueParams{
		{Job: "echo_test", Payload: json.RawMessage(`{"n":1}`)},
		{
			Job:         "report",
			Payload:     json.RawMessage(`{"month":"2026-11"}`),
			Queue:       "reports",                 // served by workers with SLUICE_QUEUES=reports, or all
			Priority:    5,                         // higher runs first
			RunAt:       time.Now().Add(time.Hour), // not before then
			MaxAttempts: 5,                         // instead of SLUICE_MAX_ATTEMPTS
			Timeout:     10 * time.Minute,          // instead of SLUICE_TIMEOUT
			Group:       "monthly",                 // to follow related tasks
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	report, err := store.Get(ctx, ids[1])
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(ids), "tasks")
	fmt.Println(report.Job, report.Queue, report.Priority, report.MaxAttempts, report.Timeout, report.Group, report.State)
	// Output:
	// 2 tasks
	// report reports 5 5 10m0s monthly queued
}

// Wait polls a task until it is finished, here while a drain runs beside it.
func ExampleStore_Wait() {
	store, dir := openExample()
	defer os.RemoveAll(dir)
	defer store.Close()
	ctx := context.Background()

	id, err := store.Enqueue(ctx, queue.EnqueueParams{Job: "echo_test", Payload: json.RawMessage(`[1,2,3]`)})
	if err != nil {
		log.Fatal(err)
	}
	drained := make(chan error, 1)
	go func() {
		_, err := worker.New(store, jobs.NewRegistry(), worker.Options{}).Drain(ctx, worker.DrainOpts{})
		drained <- err
	}()

	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	task, err := store.Wait(wctx, id, queue.WaitOpts{Interval: 10 * time.Millisecond})
	if err != nil {
		log.Fatal(err)
	}
	if err := <-drained; err != nil {
		log.Fatal(err)
	}
	fmt.Println(task.State, string(task.Result))
	// Output: succeeded [1,2,3]
}

// Stats is the backlog of each queue, as the metrics report it.
func ExampleStore_Stats() {
	store, dir := openExample()
	defer os.RemoveAll(dir)
	defer store.Close()
	ctx := context.Background()
	for _, q := range []string{"mail", "mail", "reports"} {
		if _, err := store.Enqueue(ctx, queue.EnqueueParams{Job: "echo_test", Queue: q}); err != nil {
			log.Fatal(err)
		}
	}
	stats, err := store.Stats(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range stats {
		fmt.Println(s.Queue, s.Due, "due,", s.Running, "running")
	}
	// Output:
	// mail 2 due, 0 running
	// reports 1 due, 0 running
}
