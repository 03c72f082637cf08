package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/jobs"
	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/sqlitewal"
	"github.com/sluicehq/sluice/worker"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type env struct {
	store *queue.Store
	jobs  *jobs.Registry
	clock *clock
	opts  worker.Options
}

// syncMode lets benchmarks compare SLUICE_SYNC's modes: go test -bench Drain -sluice.sync normal
var syncMode = flag.String("sluice.sync", "full", "synchronous mode of the test databases: full or normal")

func newEnv(tb testing.TB) *env {
	tb.Helper()
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	db, err := sqlitewal.Open(context.Background(), filepath.Join(tb.TempDir(), "q.db"),
		sqlitewal.Options{Migrations: queue.Migrations, Sync: sqlitewal.Sync(*syncMode)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return &env{
		store: queue.New(db, queue.NewOpts{Now: clk.Now}),
		jobs:  jobs.NewRegistry(),
		clock: clk,
		opts: worker.Options{
			Workers: 4, Timeout: 10 * time.Second, LeaseMargin: 20 * time.Second, MaxAttempts: 3,
			Backoff: worker.Backoff{Base: 10 * time.Second, Max: time.Hour, Rand: func() float64 { return 0 }},
			Now:     clk.Now,
		},
	}
}

func (e *env) enqueue(tb testing.TB, p queue.EnqueueParams) int64 {
	tb.Helper()
	id, err := e.store.Enqueue(context.Background(), p)
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

func (e *env) drain(tb testing.TB, opts worker.DrainOpts) worker.Summary {
	tb.Helper()
	sum, err := worker.New(e.store, e.jobs, e.opts).Drain(context.Background(), opts)
	if err != nil {
		tb.Fatal(err)
	}
	return sum
}

func (e *env) get(tb testing.TB, id int64) queue.Task {
	tb.Helper()
	t, err := e.store.Get(context.Background(), id)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

func TestDrainRunsEveryTaskOnce(t *testing.T) {
	e := newEnv(t)
	ps := make([]queue.EnqueueParams, volume)
	for i := range ps {
		ps[i] = queue.EnqueueParams{Job: "echo_test", Payload: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))}
	}
	ids, err := e.store.EnqueueMany(context.Background(), ps)
	if err != nil {
		t.Fatal(err)
	}
	sum := e.drain(t, worker.DrainOpts{})
	if sum.Succeeded != volume || sum.Ran != volume || sum.Failed+sum.Retried+sum.Stale != 0 {
		t.Fatalf("summary = %+v; want %d succeeded", sum, volume)
	}
	for _, i := range []int{0, volume / 2, volume - 1} {
		got := e.get(t, ids[i])
		if got.State != queue.Succeeded || string(got.Result) != fmt.Sprintf(`{"n":%d}`, i) || got.Attempt != 1 {
			t.Errorf("task %d = %s attempt %d result %s", i, got.State, got.Attempt, got.Result)
		}
	}
	if again := e.drain(t, worker.DrainOpts{}); again.Ran != 0 {
		t.Errorf("second drain ran %d; want 0", again.Ran)
	}
}

func TestRetriesFollowBackoff(t *testing.T) {
	e := newEnv(t)
	var calls atomic.Int32
	e.jobs.Register("flaky", func(ctx context.Context, _ json.RawMessage) ([]byte, error) {
		if n := calls.Add(1); n <= 2 {
			return nil, fmt.Errorf("flake %d", n)
		}
		return []byte(`"ok"`), nil
	})
	id := e.enqueue(t, queue.EnqueueParams{Job: "flaky"})

	// Backoff base 10s, jitter pinned to its bottom: retries wait 5s, then 10s.
	for i, wait := range []time.Duration{5 * time.Second, 10 * time.Second} {
		before := e.clock.Now()
		sum := e.drain(t, worker.DrainOpts{})
		if sum.Retried != 1 {
			t.Fatalf("drain %d: summary %+v; want one retry", i+1, sum)
		}
		got := e.get(t, id)
		if got.State != queue.Queued || !got.RunAt.Equal(before.Add(wait)) {
			t.Fatalf("drain %d: state %s run_at %s; want queued at %s", i+1, got.State, got.RunAt, before.Add(wait))
		}
		if sum := e.drain(t, worker.DrainOpts{}); sum.Ran != 0 {
			t.Fatalf("a task not yet due ran")
		}
		e.clock.Advance(wait)
	}
	if sum := e.drain(t, worker.DrainOpts{}); sum.Succeeded != 1 {
		t.Fatalf("third drain: %+v", sum)
	}
	got := e.get(t, id)
	if got.State != queue.Succeeded || got.Attempt != 3 || len(got.History) != 3 {
		t.Fatalf("task = %+v", got)
	}
	for i, want := range []string{"flake 1", "flake 2", ""} {
		if h := got.History[i]; h.Attempt != i+1 || h.Error != want {
			t.Errorf("history[%d] = %+v; want attempt %d error %q", i, h, i+1, want)
		}
	}
}

func TestFailuresEndAfterMaxAttempts(t *testing.T) {
	e := newEnv(t)
	e.jobs.Register("broken", func(context.Context, json.RawMessage) ([]byte, error) { return nil, errors.New("always") })
	id := e.enqueue(t, queue.EnqueueParams{Job: "broken", MaxAttempts: 2})
	e.drain(t, worker.DrainOpts{})
	e.clock.Advance(time.Hour)
	if sum := e.drain(t, worker.DrainOpts{}); sum.Failed != 1 {
		t.Fatalf("summary %+v; want 1 failed", sum)
	}
	if got := e.get(t, id); got.State != queue.Failed || got.Attempt != 2 || got.Error != "always" {
		t.Fatalf("task = %+v", got)
	}
}

func TestBadTasksFailClearly(t *testing.T) {
	e := newEnv(t)
	unknown := e.enqueue(t, queue.EnqueueParams{Job: "no_such_job", MaxAttempts: 1})
	// Rows written through SQL by other languages skip Enqueue's checks.
	res, err := e.store.DB().Write.Exec(`INSERT INTO tasks (job, payload, run_at) VALUES ('echo_test', '{broken', 0)`)
	if err != nil {
		t.Fatal(err)
	}
	badJSON, _ := res.LastInsertId()
	// The schema refuses a negative priority (migration 0007); with its
	// rules dropped by hand, the worker still fails such a row at once.
	if _, err := e.store.DB().Write.Exec(`DROP TRIGGER tasks_insert_rules`); err != nil {
		t.Fatal(err)
	}
	res, _ = e.store.DB().Write.Exec(`INSERT INTO tasks (job, priority, run_at) VALUES ('echo_test', -5, 0)`)
	negative, _ := res.LastInsertId()
	// A JSON string of 262,148 bytes, over queue.MaxPayload, for a job this
	// worker does not know: the size fails it at once, it is not retried.
	res, _ = e.store.DB().Write.Exec(`INSERT INTO tasks (job, payload, run_at)
		VALUES ('no_such_job', '"' || replace(hex(zeroblob(131073)), '0', 'x') || '"', 0)`)
	huge, _ := res.LastInsertId()
	good := e.enqueue(t, queue.EnqueueParams{Job: "echo_test"})

	sum := e.drain(t, worker.DrainOpts{})
	if sum.Succeeded != 1 || sum.Failed != 4 {
		t.Fatalf("summary %+v; want 1 succeeded, 4 failed", sum)
	}
	for id, want := range map[int64]string{
		unknown:  `unknown job "no_such_job" (registered: echo_test)`,
		badJSON:  "payload is not valid JSON",
		negative: "invalid row: priority -5 is negative",
		huge:     fmt.Sprintf("payload is 262148 bytes, over the limit of %d", queue.MaxPayload),
	} {
		if got := e.get(t, id); got.State != queue.Failed || !strings.Contains(got.Error, want) {
			t.Errorf("task %d: %s %q; want failed with %q", id, got.State, got.Error, want)
		}
	}
	if got := e.get(t, good); got.State != queue.Succeeded {
		t.Errorf("good task: %s", got.State)
	}
}

// TestResultTooLarge checks that a Go handler's result over jobs.MaxResult
// fails its task at once, as an exec job's stdout over it does.
func TestResultTooLarge(t *testing.T) {
	e := newEnv(t)
	e.jobs.Register("big", func(context.Context, json.RawMessage) ([]byte, error) {
		return make([]byte, jobs.MaxResult+1), nil
	})
	id := e.enqueue(t, queue.EnqueueParams{Job: "big"})
	if sum := e.drain(t, worker.DrainOpts{}); sum.Failed != 1 {
		t.Fatalf("summary %+v; want 1 failed", sum)
	}
	want := fmt.Sprintf("result is %d bytes, over the limit of %d", jobs.MaxResult+1, jobs.MaxResult)
	if got := e.get(t, id); got.State != queue.Failed || got.Attempt != 1 || !strings.Contains(got.Error, want) || got.Result != nil {
		t.Errorf("task = %s after %d attempts, error %q, %d result bytes; want failed at once with %q",
			got.State, got.Attempt, got.Error, len(got.Result), want)
	}
}

func TestHandlerIgnoringContextFreesSlotAtDeadline(t *testing.T) {
	e := newEnv(t)
	e.opts.Workers = 1
	release := make(chan struct{})
	defer close(release)
	e.jobs.Register("stuck", func(context.Context, json.RawMessage) ([]byte, error) {
		<-release // ignores its context
		return nil, nil
	})
	stuck := e.enqueue(t, queue.EnqueueParams{Job: "stuck", Timeout: 50 * time.Millisecond, MaxAttempts: 1})
	after := e.enqueue(t, queue.EnqueueParams{Job: "echo_test"})
	sum := e.drain(t, worker.DrainOpts{})
	if sum.Failed != 1 || sum.Succeeded != 1 {
		t.Fatalf("summary %+v; want the stuck task failed and the next one run", sum)
	}
	got := e.get(t, stuck)
	if got.State != queue.Failed || got.Error != "timeout after 50ms" || got.History[0].Outcome != "timeout" {
		t.Errorf("stuck task = %s %q %+v", got.State, got.Error, got.History)
	}
	if e.get(t, after).State != queue.Succeeded {
		t.Error("the task behind the stuck one did not run")
	}
}

func TestPanicIsAFailedAttempt(t *testing.T) {
	e := newEnv(t)
	e.jobs.Register("panics", func(context.Context, json.RawMessage) ([]byte, error) { panic("oh no") })
	id := e.enqueue(t, queue.EnqueueParams{Job: "panics", MaxAttempts: 1})
	e.drain(t, worker.DrainOpts{})
	if got := e.get(t, id); got.State != queue.Failed || !strings.HasPrefix(got.Error, "panic: oh no") {
		t.Errorf("task = %s %q", got.State, got.Error)
	}
}

func TestMaxTasks(t *testing.T) {
	e := newEnv(t)
	for range 10 {
		e.enqueue(t, queue.EnqueueParams{Job: "echo_test"})
	}
	if sum := e.drain(t, worker.DrainOpts{MaxTasks: 3}); sum.Ran != 3 {
		t.Fatalf("ran %d; want 3", sum.Ran)
	}
	counts, _ := e.store.Counts(context.Background())
	if counts[queue.Queued] != 7 {
		t.Errorf("queued = %d; want 7", counts[queue.Queued])
	}
}

func TestStopReleasesUnfinishedTasks(t *testing.T) {
	e := newEnv(t)
	e.opts.Workers = 1
	e.opts.ShutdownGrace = 20 * time.Millisecond
	started := make(chan struct{})
	e.jobs.Register("slow", func(ctx context.Context, _ json.RawMessage) ([]byte, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	})
	slow := e.enqueue(t, queue.EnqueueParams{Job: "slow"})
	waiting := e.enqueue(t, queue.EnqueueParams{Job: "echo_test"})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	sum, err := worker.New(e.store, e.jobs, e.opts).Drain(ctx, worker.DrainOpts{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Released != 2 || sum.Ran != 0 {
		t.Fatalf("summary %+v; want 2 released", sum)
	}
	for _, id := range []int64{slow, waiting} {
		if got := e.get(t, id); got.State != queue.Queued || got.Attempt != 0 {
			t.Errorf("task %d: %s attempt %d; want queued with no attempt charged", id, got.State, got.Attempt)
		}
	}
}

func TestDrainDeadlineStopsClaiming(t *testing.T) {
	e := newEnv(t)
	e.opts.Workers = 1
	const n = 1000
	ps := make([]queue.EnqueueParams, n)
	for i := range ps {
		ps[i] = queue.EnqueueParams{Job: "echo_test"}
	}
	if _, err := e.store.EnqueueMany(context.Background(), ps); err != nil {
		t.Fatal(err)
	}
	// A deadline already past when the loop first waits: it claims no more,
	// finishes what it holds, and leaves the rest queued.
	sum := e.drain(t, worker.DrainOpts{Deadline: time.Nanosecond})
	if sum.Ran == 0 || sum.Ran >= n {
		t.Fatalf("ran %d of %d; want the drain to stop early, after running what it had claimed", sum.Ran, n)
	}
	counts, _ := e.store.Counts(context.Background())
	if counts[queue.Running] != 0 || counts[queue.Queued] != n-sum.Ran || counts[queue.Succeeded] != sum.Ran {
		t.Errorf("counts %v after running %d; want nothing left running and the rest queued", counts, sum.Ran)
	}
}

// TestClaimsOfLargestPayloadsFit drains tasks whose payloads all have the
// largest size allowed, with a fast handler, so that claims grow to the
// prefetch cap: a whole claim's payloads must fit in SQLite's heap (the
// driver panics when they do not).
func TestClaimsOfLargestPayloadsFit(t *testing.T) {
	if testing.Short() {
		t.Skip("writes ~80 MiB")
	}
	e := newEnv(t)
	e.jobs.Register("noop", func(context.Context, json.RawMessage) ([]byte, error) { return nil, nil })
	payload := json.RawMessage(`"` + strings.Repeat("x", queue.MaxPayload-2) + `"`)
	const n = 300 // more than the prefetch cap plus the workers
	ps := make([]queue.EnqueueParams, n)
	for i := range ps {
		ps[i] = queue.EnqueueParams{Job: "noop", Payload: payload}
	}
	if _, err := e.store.EnqueueMany(context.Background(), ps); err != nil {
		t.Fatal(err)
	}
	if sum := e.drain(t, worker.DrainOpts{}); sum.Succeeded != n {
		t.Fatalf("summary %+v; want %d succeeded", sum, n)
	}
}
