package worker_test

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/jobs"
	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/schedule"
	"github.com/sluicehq/sluice/sqlitewal"
	"github.com/sluicehq/sluice/worker"
)

// recorder is a job that records the tasks it ran.
type recorder struct {
	mu  sync.Mutex
	ids []int64
	ch  chan int64
}

func newRecorder() *recorder { return &recorder{ch: make(chan int64, 100)} }

func (r *recorder) run(ctx context.Context, _ json.RawMessage) ([]byte, error) {
	info, _ := jobs.InfoFrom(ctx)
	r.mu.Lock()
	r.ids = append(r.ids, info.TaskID)
	r.mu.Unlock()
	r.ch <- info.TaskID
	return nil, nil
}

// next waits for the next task the recorder runs.
func (r *recorder) next(tb testing.TB) int64 {
	tb.Helper()
	select {
	case id := <-r.ch:
		return id
	case <-time.After(30 * time.Second):
		tb.Fatal("no task ran within 30s")
		return 0
	}
}

// startRun runs w.Run in the background; the returned func stops it and
// returns its summary.
func startRun(tb testing.TB, w *worker.Worker, opts worker.RunOpts) func() worker.Summary {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	type result struct {
		sum worker.Summary
		err error
	}
	done := make(chan result, 1)
	go func() {
		sum, err := w.Run(ctx, opts)
		done <- result{sum, err}
	}()
	stopped := false
	stop := func() worker.Summary {
		if stopped {
			return worker.Summary{}
		}
		stopped = true
		cancel()
		r := <-done
		if r.err != nil {
			tb.Errorf("run: %v", r.err)
		}
		return r.sum
	}
	tb.Cleanup(func() { stop() })
	return stop
}

// TestRunFiresScheduleRepeatedly moves the injected clock ten minutes at a
// time; each step must yield exactly one run of the every-10-minutes
// schedule, for the due time just reached.
func TestRunFiresScheduleRepeatedly(t *testing.T) {
	e := newEnv(t)
	rec := newRecorder()
	e.jobs.Register("tick", rec.run)
	start := e.clock.Now()
	if _, err := e.store.AddSchedule(context.Background(), queue.ScheduleParams{Name: "tick", Job: "tick",
		Spec: schedule.Spec{Type: schedule.Minutes, Every: 10, Start: start}}); err != nil {
		t.Fatal(err)
	}
	stop := startRun(t, worker.New(e.store, e.jobs, e.opts), worker.RunOpts{Poll: 5 * time.Millisecond})
	for i := range 5 {
		id := rec.next(t)
		task := e.get(t, id)
		if want := start.Add(time.Duration(i) * 10 * time.Minute); !task.ScheduledFor.Equal(want) {
			t.Fatalf("run %d scheduled for %v; want %v", i, task.ScheduledFor, want)
		}
		// Move time only once the outcome is written: a jump past the lease of
		// a task still running would rightly have it recovered and run again.
		deadline := time.Now().Add(30 * time.Second)
		for e.get(t, id).State != queue.Succeeded {
			if time.Now().After(deadline) {
				t.Fatalf("task %d did not succeed within 30s", id)
			}
			time.Sleep(time.Millisecond) // polling, not waiting for time to pass
		}
		e.clock.Advance(10 * time.Minute)
	}
	sum := stop()
	if sum.Succeeded < 5 {
		t.Errorf("summary = %+v; want at least 5 succeeded", sum)
	}
	var n, distinct int
	if err := e.store.DB().Read.QueryRow(`SELECT count(*), count(DISTINCT scheduled_for) FROM tasks`).Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	if n != distinct {
		t.Errorf("%d tasks for %d due times; want one each", n, distinct)
	}
}

// TestRunStartsInProcessEnqueueAtOnce uses a poll interval far beyond the
// test's deadline: only the in-process signal can start the task.
func TestRunStartsInProcessEnqueueAtOnce(t *testing.T) {
	e := newEnv(t)
	rec := newRecorder()
	e.jobs.Register("now", rec.run)
	startRun(t, worker.New(e.store, e.jobs, e.opts), worker.RunOpts{Poll: time.Hour})
	for range 3 {
		id := e.enqueue(t, queue.EnqueueParams{Job: "now"})
		if got := rec.next(t); got != id {
			t.Fatalf("ran task %d; want %d", got, id)
		}
	}
}

// TestRunSeesOtherStoreWithinPoll enqueues through a second handle on the
// file, as another process would: the poll must find it.
func TestRunSeesOtherStoreWithinPoll(t *testing.T) {
	e := newEnv(t)
	rec := newRecorder()
	e.jobs.Register("remote", rec.run)
	startRun(t, worker.New(e.store, e.jobs, e.opts), worker.RunOpts{Poll: 10 * time.Millisecond})
	db, err := sqlitewal.Open(context.Background(), e.store.DB().Path,
		sqlitewal.Options{Migrations: queue.Migrations})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	other := queue.New(db, queue.NewOpts{Now: e.clock.Now})
	id, err := other.Enqueue(context.Background(), queue.EnqueueParams{Job: "remote"})
	if err != nil {
		t.Fatal(err)
	}
	if got := rec.next(t); got != id {
		t.Fatalf("ran task %d; want %d", got, id)
	}
}

// TestRunWakesForDelayedTask enqueues a task due later; moving the clock
// past its run_at must start it without any enqueue signal.
func TestRunWakesForDelayedTask(t *testing.T) {
	e := newEnv(t)
	rec := newRecorder()
	e.jobs.Register("later", rec.run)
	id := e.enqueue(t, queue.EnqueueParams{Job: "later", RunAt: e.clock.Now().Add(time.Hour)})
	startRun(t, worker.New(e.store, e.jobs, e.opts), worker.RunOpts{Poll: 5 * time.Millisecond})
	select {
	case got := <-rec.ch:
		t.Fatalf("task %d ran before it was due", got)
	default:
	}
	e.clock.Advance(time.Hour)
	if got := rec.next(t); got != id {
		t.Fatalf("ran task %d; want %d", got, id)
	}
}

// TestRunStopsGracefully cancels Run while a task runs: the task finishes
// and its outcome is written.
func TestRunStopsGracefully(t *testing.T) {
	e := newEnv(t)
	started, release := make(chan struct{}), make(chan struct{})
	e.jobs.Register("slow", func(ctx context.Context, _ json.RawMessage) ([]byte, error) {
		close(started)
		<-release
		return []byte(`"ok"`), nil
	})
	stop := startRun(t, worker.New(e.store, e.jobs, e.opts), worker.RunOpts{Poll: time.Hour})
	id := e.enqueue(t, queue.EnqueueParams{Job: "slow"})
	<-started
	time.AfterFunc(10*time.Millisecond, func() { close(release) }) // after the stop below has begun, usually
	sum := stop()
	if sum.Succeeded != 1 {
		t.Errorf("summary = %+v; want 1 succeeded", sum)
	}
	if got := e.get(t, id); got.State != queue.Succeeded {
		t.Errorf("task state = %s; want succeeded", got.State)
	}
}

// BenchmarkRunEnqueueToStart measures, per task, the time from just before
// Enqueue on the Store that Run uses to the start of the job's handler: the
// in-process path (no polling). Run with: go test ./worker -bench RunEnqueueToStart -run '^$'
func BenchmarkRunEnqueueToStart(b *testing.B) {
	e := newEnv(b)
	e.opts.Now = time.Now
	started := make(chan time.Time, 1)
	e.jobs.Register("mark", func(context.Context, json.RawMessage) ([]byte, error) {
		started <- time.Now()
		return nil, nil
	})
	store := queue.New(e.store.DB(), queue.NewOpts{}) // real clock, so leases are not stale
	startRun(b, worker.New(store, e.jobs, e.opts), worker.RunOpts{Poll: time.Hour})
	var total time.Duration
	for b.Loop() {
		t0 := time.Now()
		if _, err := store.Enqueue(context.Background(), queue.EnqueueParams{Job: "mark"}); err != nil {
			b.Fatal(err)
		}
		total += (<-started).Sub(t0)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs/start")
}

// TestRunAppliesRetention: a run prunes at its start and again every
// Retention.Every for as long as it runs, counts what it removed, and
// reports no progress (that is for drains).
func TestRunAppliesRetention(t *testing.T) {
	e := newEnv(t)
	insertHistory(t, e, queue.Succeeded, 5, time.Minute)
	var progressed atomic.Int64
	e.opts.Progress = func(worker.Progress) { progressed.Add(1) }
	e.opts.ProgressEvery = time.Millisecond
	e.opts.Retention = worker.Retention{Succeeded: queue.Keep{Count: 2}, Every: 5 * time.Millisecond}
	stop := startRun(t, worker.New(e.store, e.jobs, e.opts), worker.RunOpts{Poll: time.Hour})
	succeeded := func() int {
		counts, err := e.store.Counts(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return counts[queue.Succeeded]
	}
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(time.Millisecond) // polling, not waiting for time to pass
		}
	}
	waitUntil("the pass at the start", func() bool { return succeeded() == 2 })
	insertHistory(t, e, queue.Succeeded, 4, time.Minute)
	waitUntil("a later pass", func() bool { return succeeded() == 2 })
	sum := stop()
	if sum.Pruned != 7 {
		t.Errorf("summary pruned %d; want 7 (3 at the start, 4 later)", sum.Pruned)
	}
	if n := progressed.Load(); n != 0 {
		t.Errorf("run reported progress %d times; want none", n)
	}
}

// TestScheduledForReachesHandler: a Go handler reads the intended time and
// schedule of a scheduled task from jobs.InfoFrom; other tasks have neither.
func TestScheduledForReachesHandler(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var mu sync.Mutex
	infos := map[int64]jobs.Info{}
	e.jobs.Register("when", func(ctx context.Context, _ json.RawMessage) ([]byte, error) {
		info, _ := jobs.InfoFrom(ctx)
		mu.Lock()
		infos[info.TaskID] = info
		mu.Unlock()
		return nil, nil
	})
	// Due 25 minutes ago, every 10 minutes, catch-up all: due times at -25m,
	// -15m and -5m, each its own task, all run now.
	start := e.clock.Now().Add(-25 * time.Minute)
	sc, err := e.store.AddSchedule(ctx, queue.ScheduleParams{Name: "when", Job: "when", CatchUp: schedule.CatchUpAll,
		Spec: schedule.Spec{Type: schedule.Minutes, Every: 10, Start: start}})
	if err != nil {
		t.Fatal(err)
	}
	// The start is in the past: move the first run back to it to miss three.
	if _, err := e.store.DB().Write.Exec("UPDATE schedules SET next_run_at = ? WHERE id = ?", start.UnixMilli(), sc.ID); err != nil {
		t.Fatal(err)
	}
	firings, err := e.store.FireDue(ctx)
	if err != nil || len(firings) != 1 || len(firings[0].TaskIDs) != 3 {
		t.Fatalf("firings = %+v, %v; want one schedule with 3 tasks", firings, err)
	}
	plain := e.enqueue(t, queue.EnqueueParams{Job: "when"})
	e.drain(t, worker.DrainOpts{})

	mu.Lock()
	defer mu.Unlock()
	for i, id := range firings[0].TaskIDs {
		got := infos[id]
		if want := start.Add(time.Duration(i) * 10 * time.Minute); !got.ScheduledFor.Equal(want) || got.ScheduleID != sc.ID {
			t.Errorf("task %d: handler saw scheduled for %v by schedule %d; want %v by %d", id, got.ScheduledFor, got.ScheduleID, want, sc.ID)
		}
	}
	if got, ok := infos[plain]; !ok || !got.ScheduledFor.IsZero() || got.ScheduleID != 0 {
		t.Errorf("plain task: info %+v (ran %v); want no schedule", got, ok)
	}
}
