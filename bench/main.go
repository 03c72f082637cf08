// Command bench measures Sluice's speed and memory on this machine and
// prints a table, plus JSON with -json. BENCHMARKS.md says how to read it.
//
//	go run ./bench              # everything, about two minutes
//	go run ./bench -quick       # smaller sizes, for a smoke test
//	go run ./bench -only pg     # the PostgreSQL figures alone
//	go run ./bench -json out.json
//
// The PostgreSQL figures (step pg) run on a private, durable server started
// from the installed binaries (Debian's postgresql package), or on the
// server at -pg (default $SLUICE_TEST_POSTGRES), where the benchmark creates
// and drops its own databases; without either the step is skipped.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/sluicehq/sluice/jobs"
	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/sqlitewal"
	"github.com/sluicehq/sluice/worker"
)

// Result is one measured number.
type Result struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`
	Target string  `json:"target,omitempty"`
	Note   string  `json:"note,omitempty"`
}

type sizes struct {
	single, batch, drain, sleep, history, rssTasks, coldRuns int
	pgSingle, pgBatch, pgDrain, pgLatency                    int
}

func main() {
	if os.Getenv(childEnv) == "1" {
		os.Exit(child()) // the latency measurement's sluice run
	}
	quick := flag.Bool("quick", false, "smaller sizes (a smoke test, not a measurement)")
	jsonOut := flag.String("json", "", "also write the results as JSON to this `file` (- for stdout)")
	only := flag.String("only", "", "run only the steps whose name contains this text: enqueue, drain, sleep, history, process, pg")
	pgURL := flag.String("pg", os.Getenv(envPostgres), "PostgreSQL `URL` to measure on (creating databases there); default $"+envPostgres+", else a private server")
	sync := flag.String("sync", "full", "SQLite's synchronous mode for the stores: full (SLUICE_SYNC's default) or normal")
	flag.Parse()
	sz := sizes{single: 20_000, batch: 1_000_000, drain: 100_000, sleep: 1_000, history: 1_000_000, rssTasks: 10_000, coldRuns: 15,
		pgSingle: 5_000, pgBatch: 200_000, pgDrain: 20_000, pgLatency: 500}
	if *quick {
		sz = sizes{single: 2_000, batch: 50_000, drain: 10_000, sleep: 200, history: 50_000, rssTasks: 2_000, coldRuns: 5,
			pgSingle: 500, pgBatch: 20_000, pgDrain: 2_000, pgLatency: 50}
	}
	b := &bench{sz: sz, sync: sqlitewal.Sync(*sync), pg: pgFrom(*pgURL)}
	if err := run(b, *only, *jsonOut, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// run runs b's steps (those whose name contains only) and prints the table.
func run(b *bench, only string, jsonOut string, out io.Writer) error {
	dir, err := os.MkdirTemp("", "sluice-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	b.dir = dir
	steps := []struct {
		name string
		fn   func() ([]Result, error)
	}{
		{"enqueue", b.enqueue},
		{"drain", b.drain},
		{"sleep", b.sleep},
		{"history", b.history},
		{"process", b.process},
		{"pg", b.postgres},
	}
	var results []Result
	for _, s := range steps {
		if only != "" && !strings.Contains(s.name, only) {
			continue
		}
		rs, err := s.fn()
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		results = append(results, rs...)
	}
	fmt.Fprintf(out, "Sluice benchmarks — %s, %d CPUs, %s, synchronous=%s\n\n", runtime.Version(), runtime.NumCPU(), cpuModel(), b.sync)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "measurement\tvalue\tunit\ttarget\t")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", r.Name, format(r.Value), r.Unit, r.Target)
	}
	tw.Flush()
	for _, r := range results {
		if r.Note != "" {
			fmt.Fprintf(out, "  %s: %s\n", r.Name, r.Note)
		}
	}
	for _, s := range b.skipped {
		fmt.Fprintln(out, s)
	}
	if jsonOut != "" {
		data, _ := json.MarshalIndent(results, "", "  ")
		if jsonOut == "-" {
			fmt.Fprintln(out, string(data))
		} else if err := os.WriteFile(jsonOut, append(data, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func format(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.3f", v)
}

func cpuModel() string {
	data, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

type bench struct {
	dir     string
	sz      sizes
	sync    sqlitewal.Sync
	pg      pgServer // nil: no PostgreSQL figures
	n       int
	skipped []string // steps that could not run, and why
}

// store opens a fresh database file.
func (b *bench) store() (*queue.Store, string, error) {
	b.n++
	path := filepath.Join(b.dir, fmt.Sprintf("bench-%d.db", b.n))
	db, err := sqlitewal.Open(context.Background(), path, sqlitewal.Options{Migrations: queue.Migrations, Sync: b.sync})
	if err != nil {
		return nil, "", err
	}
	return queue.New(db, queue.NewOpts{}), path, nil
}

func fill(s queue.Backend, n int, job, payload string) error {
	const chunk = 10_000
	ps := make([]queue.EnqueueParams, min(n, chunk))
	for i := range ps {
		ps[i] = queue.EnqueueParams{Job: job, Payload: json.RawMessage(payload)}
	}
	for done := 0; done < n; done += chunk {
		if _, err := s.EnqueueMany(context.Background(), ps[:min(chunk, n-done)]); err != nil {
			return err
		}
	}
	return nil
}

func (b *bench) enqueue() ([]Result, error) {
	s, _, err := b.store()
	if err != nil {
		return nil, err
	}
	defer s.Close()
	ctx := context.Background()
	p := queue.EnqueueParams{Job: "echo_test", Payload: json.RawMessage(`{"n":1}`)}
	start := time.Now()
	for range b.sz.single {
		if _, err := s.Enqueue(ctx, p); err != nil {
			return nil, err
		}
	}
	single := float64(b.sz.single) / time.Since(start).Seconds()

	start = time.Now()
	if err := fill(s, b.sz.batch, "echo_test", `{"n":1}`); err != nil {
		return nil, err
	}
	batch := float64(b.sz.batch) / time.Since(start).Seconds()
	return []Result{
		{Name: "enqueue, one task per transaction", Value: single, Unit: "tasks/s", Target: "≥ 10000",
			Note: fmt.Sprintf("%d calls of Store.Enqueue", b.sz.single)},
		{Name: "enqueue, batches of 10,000", Value: batch, Unit: "tasks/s", Target: "≥ 500000",
			Note: fmt.Sprintf("%d tasks through Store.EnqueueMany", b.sz.batch)},
	}, nil
}

// drainRate drains n no-op tasks from s with workers goroutines in one
// worker and returns tasks/s.
func drainRate(s queue.Backend, n, workers int) (float64, error) {
	w := worker.New(s, jobs.NewRegistry(), worker.Options{Workers: workers})
	sum, err := w.Drain(context.Background(), worker.DrainOpts{})
	if err != nil {
		return 0, err
	}
	if sum.Succeeded != n {
		return 0, fmt.Errorf("drained %d of %d", sum.Succeeded, n)
	}
	return sum.Rate(), nil
}

func (b *bench) drain() ([]Result, error) {
	s, _, err := b.store()
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if err := fill(s, b.sz.drain, "echo_test", `{"n":1}`); err != nil {
		return nil, err
	}
	rate, err := drainRate(s, b.sz.drain, 4)
	if err != nil {
		return nil, err
	}
	return []Result{{Name: "drain no-op tasks, 4 workers", Value: rate, Unit: "tasks/s", Target: "≥ 16000",
		Note: fmt.Sprintf("%d echo_test tasks, first claim to last outcome written", b.sz.drain)}}, nil
}

func (b *bench) sleep() ([]Result, error) {
	s, _, err := b.store()
	if err != nil {
		return nil, err
	}
	defer s.Close()
	reg := jobs.NewRegistry()
	var inHandlers atomic.Int64 // nanoseconds spent inside the handler, summed
	reg.Register("sleep10ms", func(ctx context.Context, _ json.RawMessage) ([]byte, error) {
		start := time.Now()
		defer func() { inHandlers.Add(int64(time.Since(start))) }()
		t := time.NewTimer(10 * time.Millisecond)
		defer t.Stop()
		select {
		case <-t.C:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	if err := fill(s, b.sz.sleep, "sleep10ms", `{}`); err != nil {
		return nil, err
	}
	const workers = 8
	sum, err := worker.New(s, reg, worker.Options{Workers: workers}).Drain(context.Background(), worker.DrainOpts{})
	if err != nil {
		return nil, err
	}
	ideal := time.Duration(b.sz.sleep/workers) * 10 * time.Millisecond
	// Where the time above the ideal goes: inside the handlers (their 10 ms
	// timers firing late), or in the worker between one task and the next
	// (every slot's time not spent in a handler, start and finish included).
	handlers := time.Duration(inHandlers.Load())
	between := time.Duration(workers)*sum.Elapsed - handlers
	inStep, _ := plainPool(b.sz.sleep, workers, 0)
	_, apart := plainPool(b.sz.sleep, workers, 20*time.Microsecond)
	return []Result{
		{Name: "1,000 tasks of 10 ms, 8 workers, ÷ ideal", Value: sum.Elapsed.Seconds() / ideal.Seconds(),
			Unit: "×", Target: "≤ 1.05", Note: fmt.Sprintf("%d tasks in %s; ideal %s", b.sz.sleep, sum.Elapsed.Round(time.Millisecond), ideal)},
		{Name: "… time inside the handlers ÷ ideal", Value: (handlers / workers).Seconds() / ideal.Seconds(), Unit: "×",
			Note: fmt.Sprintf("a 10 ms timer took %s on average: Go wakes timers with millisecond resolution", (handlers / time.Duration(b.sz.sleep)).Round(time.Microsecond))},
		{Name: "… Sluice's own time per task, between handlers", Value: float64(between.Microseconds()) / float64(b.sz.sleep), Unit: "µs",
			Note: "each slot's time outside a handler (claims, outcomes, start and finish) ÷ tasks"},
		{Name: "same sleeps, plain goroutine pool, ÷ ideal", Value: inStep.Seconds() / ideal.Seconds(), Unit: "×",
			Note: "no queue at all, every goroutine starting its sleeps in step with the others"},
		{Name: "… pool, sleeps 20 µs apart: time inside sleeps ÷ ideal", Value: (apart / workers).Seconds() / ideal.Seconds(), Unit: "×",
			Note: "goroutine i spins i×20 µs before each sleep, so the timers fall due apart; compare with the handlers' line"},
	}, nil
}

// plainPool runs n 10 ms sleeps on a pool of goroutines with no queue, to
// show how close to the ideal Go's timers themselves get on this machine. It
// returns the wall time and the time spent inside the sleeps, summed.
//
// With gap 0 every goroutine starts each sleep in step with the others. With
// a gap, goroutine i works (spins) i×gap before each sleep, as a worker's
// slots spend slightly different times handing over tasks, so their timers
// no longer fall due together.
func plainPool(n, workers int, gap time.Duration) (elapsed, inSleeps time.Duration) {
	start := time.Now()
	work := make(chan struct{}, n)
	for range n {
		work <- struct{}{}
	}
	close(work)
	var slept atomic.Int64
	done := make(chan struct{})
	for i := range workers {
		go func() {
			for range work {
				for spin := time.Now(); time.Since(spin) < time.Duration(i)*gap; {
				}
				begin := time.Now()
				t := time.NewTimer(10 * time.Millisecond)
				<-t.C
				slept.Add(int64(time.Since(begin)))
			}
			done <- struct{}{}
		}()
	}
	for range workers {
		<-done
	}
	return time.Since(start), time.Duration(slept.Load())
}

func (b *bench) history() ([]Result, error) {
	const n = 20_000
	empty, _, err := b.store()
	if err != nil {
		return nil, err
	}
	defer empty.Close()
	if err := fill(empty, n, "echo_test", `{"n":1}`); err != nil {
		return nil, err
	}
	base, err := drainRate(empty, n, 4)
	if err != nil {
		return nil, err
	}

	full, _, err := b.store()
	if err != nil {
		return nil, err
	}
	defer full.Close()
	// A finished history, written directly: 1,000,000 succeeded tasks.
	_, err = full.DB().Write.Exec(`
		WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
		INSERT INTO tasks (job, payload, state, attempt, run_at, created_at, started_at, finished_at, duration_ms, result, history)
		SELECT 'echo_test', '{"n":1}', 'succeeded', 1, i, i, i, i + 1, 1, '{"n":1}',
		       '[{"attempt":1,"outcome":"succeeded","started_at":' || i || ',"duration_ms":1,"error":null}]'
		FROM n`, b.sz.history)
	if err != nil {
		return nil, err
	}
	if err := fill(full, n, "echo_test", `{"n":1}`); err != nil {
		return nil, err
	}
	withHistory, err := drainRate(full, n, 4)
	if err != nil {
		return nil, err
	}
	return []Result{
		{Name: "drain with empty history", Value: base, Unit: "tasks/s"},
		{Name: fmt.Sprintf("drain with %d finished in history", b.sz.history), Value: withHistory, Unit: "tasks/s"},
		{Name: "history ÷ empty", Value: withHistory / base, Unit: "×", Target: "≥ 0.90",
			Note: fmt.Sprintf("%d no-op tasks each, 4 workers", n)},
	}, nil
}

// process measures the real binary: cold drain wall time and peak RSS.
func (b *bench) process() ([]Result, error) {
	bin := filepath.Join(b.dir, "sluice")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
	build.Dir = repoRoot()
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build: %v\n%s", err, out)
	}
	s, path, err := b.store()
	if err != nil {
		return nil, err
	}
	s.Close()
	env := append(os.Environ(), "SLUICE_DB="+path, "SLUICE_LOG_FORMAT=json", "SLUICE_SYNC="+string(b.sync))
	var walls []time.Duration
	for range b.sz.coldRuns {
		cmd := exec.Command(bin, "drain")
		cmd.Env = env
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("drain: %v\n%s", err, out)
		}
		walls = append(walls, time.Since(start))
	}
	slices.Sort(walls)
	median := walls[len(walls)/2]

	s, path, err = b.store()
	if err != nil {
		return nil, err
	}
	if err := fill(s, b.sz.rssTasks, "echo_test", `{"n":1}`); err != nil {
		return nil, err
	}
	s.Close()
	cmd := exec.Command(bin, "drain")
	cmd.Env = append(os.Environ(), "SLUICE_DB="+path, "SLUICE_LOG_FORMAT=json")
	peak, err := peakRSS(cmd)
	if err != nil {
		return nil, err
	}
	return []Result{
		{Name: "cold `sluice drain`, empty queue, median", Value: float64(median.Microseconds()) / 1000, Unit: "ms", Target: "≤ 20",
			Note: fmt.Sprintf("process wall time over %d runs: min %s, max %s", len(walls), walls[0].Round(time.Microsecond), walls[len(walls)-1].Round(time.Microsecond))},
		{Name: fmt.Sprintf("peak RSS, `sluice drain` of %d tasks", b.sz.rssTasks), Value: float64(peak) / (1 << 20), Unit: "MiB", Target: "≤ 25",
			Note: "VmHWM of the child, sampled every millisecond from /proc"},
	}, nil
}

// repoRoot finds the module root from the working directory.
func repoRoot() string {
	dir, _ := os.Getwd()
	for d := dir; d != "/"; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
	}
	return dir
}

// peakRSS runs cmd and returns its peak resident set size in bytes, read from
// VmHWM in /proc while it runs. (The rusage of a child started with vfork, as
// os/exec does, counts the parent's memory from before the exec: with a
// large benchmark process that overstates a small child by several MiB.)
func peakRSS(cmd *exec.Cmd) (int64, error) {
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
	var peak int64
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		if hwm := vmHWM(status); hwm > peak {
			peak = hwm
		}
		select {
		case err := <-exited:
			if err != nil {
				return 0, fmt.Errorf("drain: %v\n%s", err, out.String())
			}
			return peak, nil
		case <-tick.C:
		}
	}
}

// vmHWM reads the VmHWM line of a /proc/PID/status file, in bytes; 0 if unreadable.
func vmHWM(path string) int64 {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			return kb << 10
		}
	}
	return 0
}
