package metrics_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/sluicehq/sluice/jobs"
	"github.com/sluicehq/sluice/metrics"
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

func newStore(tb testing.TB, clk *clock) *queue.Store {
	tb.Helper()
	db, err := sqlitewal.Open(context.Background(), filepath.Join(tb.TempDir(), "q.db"),
		sqlitewal.Options{Migrations: queue.Migrations})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return queue.New(db, queue.NewOpts{Now: clk.Now})
}

// parse reads the text format with Prometheus's own parser.
func parse(tb testing.TB, r io.Reader) map[string]*dto.MetricFamily {
	tb.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		tb.Fatalf("parse metrics: %v", err)
	}
	return fams
}

// series finds the sample of family name with exactly these labels.
func series(fams map[string]*dto.MetricFamily, name string, labels map[string]string) *dto.Metric {
	f := fams[name]
	if f == nil {
		return nil
	}
	for _, m := range f.Metric {
		if len(m.Label) != len(labels) {
			continue
		}
		match := true
		for _, l := range m.Label {
			if labels[l.GetName()] != l.GetValue() {
				match = false
			}
		}
		if match {
			return m
		}
	}
	return nil
}

func value(m *dto.Metric) float64 {
	switch {
	case m == nil:
		return -1
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return -1
}

func dbInt(tb testing.TB, s *queue.Store, query string, args ...any) float64 {
	tb.Helper()
	var n float64
	if err := s.DB().Read.QueryRow(query, args...).Scan(&n); err != nil {
		tb.Fatalf("%s: %v", query, err)
	}
	return n
}

func TestMetricsEndpointMatchesDatabase(t *testing.T) {
	clk := &clock{t: time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)}
	s := newStore(t, clk)
	ctx := context.Background()
	reg := jobs.NewRegistry()
	reg.Register("boom", func(context.Context, json.RawMessage) ([]byte, error) {
		return nil, errors.New("boom") // retried: 3 attempts by default
	})
	reg.Register("fatal", func(context.Context, json.RawMessage) ([]byte, error) {
		return nil, jobs.Permanent(errors.New("fatal"))
	})
	var ps []queue.EnqueueParams
	for i := range 30 {
		ps = append(ps, queue.EnqueueParams{Job: "echo_test"})
		if i%3 == 0 {
			ps = append(ps, queue.EnqueueParams{Job: "boom", Queue: "mail"}, queue.EnqueueParams{Job: "fatal", Queue: "mail"})
		}
		// A queue no worker here serves: its backlog waits.
		ps = append(ps, queue.EnqueueParams{Job: "echo_test", Queue: "backlog"})
	}
	ps = append(ps, queue.EnqueueParams{Job: "echo_test", Queue: "backlog", RunAt: clk.Now().Add(time.Hour)})
	if _, err := s.EnqueueMany(ctx, ps); err != nil {
		t.Fatal(err)
	}

	m := metrics.New(s, metrics.NewOpts{})
	w := worker.New(s, reg, worker.Options{Workers: 4, Queues: []string{"default", "mail"}, Now: clk.Now,
		OnOutcomes: m.Observe})
	for range 3 { // the boom tasks fail three times, 10 s to a few minutes apart
		if _, err := w.Drain(ctx, worker.DrainOpts{}); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Hour)
	}
	clk.Advance(30 * time.Second) // the backlog has now waited 3 h 30 s

	var healthErr error
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() {
		served <- metrics.ServeListener(sctx, ln, m.Handler(func(context.Context) error { return healthErr }, nil), metrics.ServeOpts{})
	}()
	defer func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("ServeListener: %v", err)
		}
	}()
	base := "http://" + ln.Addr().String()

	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	fams := parse(t, resp.Body)
	resp.Body.Close()

	t.Run("tasks by job and outcome", func(t *testing.T) {
		for _, job := range []string{"echo_test", "boom", "fatal"} {
			q := map[string]string{"echo_test": "default", "boom": "mail", "fatal": "mail"}[job]
			for _, c := range []struct{ outcome, query string }{
				{"succeeded", "SELECT count(*) FROM tasks WHERE job = ? AND queue = ? AND state = 'succeeded'"},
				{"failed", "SELECT count(*) FROM tasks WHERE job = ? AND queue = ? AND state = 'failed'"},
				// Every attempt before the last of a failed task was retried.
				{"retried", "SELECT coalesce(sum(attempt - 1), 0) FROM tasks WHERE job = ? AND queue = ? AND state = 'failed'"},
			} {
				want := dbInt(t, s, c.query, job, q)
				got := value(series(fams, "sluice_tasks_total", map[string]string{"job": job, "queue": q, "outcome": c.outcome}))
				if want == 0 && got == -1 {
					continue // a series that never happened is absent
				}
				if got != want {
					t.Errorf("sluice_tasks_total{job=%q,outcome=%q} = %v; the database says %v", job, c.outcome, got, want)
				}
			}
		}
		if got := value(series(fams, "sluice_tasks_total", map[string]string{"job": "boom", "queue": "mail", "outcome": "retried"})); got != 20 {
			t.Errorf("boom retried = %v; want 20 (10 tasks, 2 retries each)", got)
		}
	})

	t.Run("durations", func(t *testing.T) {
		for _, job := range []string{"echo_test", "boom", "fatal"} {
			want := dbInt(t, s, `SELECT count(*) FROM tasks, json_each(tasks.history) AS h
				WHERE job = ? AND h.value->>'outcome' IN ('succeeded', 'failed')`, job)
			m := series(fams, "sluice_task_duration_seconds", map[string]string{"job": job})
			if m == nil || float64(m.Histogram.GetSampleCount()) != want {
				t.Errorf("duration histogram of %s: %v; want %v attempts", job, m, want)
			}
		}
	})

	t.Run("queue gauges", func(t *testing.T) {
		for _, c := range []struct {
			name, queue string
			want        float64
		}{
			{"sluice_queue_depth", "backlog", dbInt(t, s, "SELECT count(*) FROM tasks WHERE queue = 'backlog' AND state = 'queued' AND run_at <= ?", clk.Now().UnixMilli())},
			{"sluice_queue_scheduled", "backlog", 0}, // the delayed one is due by now
			{"sluice_queue_oldest_wait_seconds", "backlog", (3*time.Hour + 30*time.Second).Seconds()},
			{"sluice_queue_running", "backlog", 0},
		} {
			if got := value(series(fams, c.name, map[string]string{"queue": c.queue})); got != c.want {
				t.Errorf("%s{queue=%q} = %v; want %v", c.name, c.queue, got, c.want)
			}
		}
		if got := value(series(fams, "sluice_queue_depth", map[string]string{"queue": "backlog"})); got != 31 {
			t.Errorf("backlog depth = %v; want 31", got)
		}
		if m := series(fams, "sluice_queue_depth", map[string]string{"queue": "default"}); m != nil {
			t.Errorf("drained queue still reported: %v", m)
		}
	})

	t.Run("runtime metrics", func(t *testing.T) {
		if fams["go_goroutines"] == nil {
			t.Error("go_goroutines missing")
		}
	})

	t.Run("healthz", func(t *testing.T) {
		for _, c := range []struct {
			err    error
			status int
			body   string
		}{
			{nil, 200, "ok\n"},
			{errors.New("database is gone"), 503, "unhealthy\n"},
		} {
			healthErr = c.err
			resp, err := http.Get(base + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status || string(body) != c.body {
				t.Errorf("healthz = %d %q; want %d %q", resp.StatusCode, body, c.status, c.body)
			}
		}
	})
}

func TestScheduleFired(t *testing.T) {
	m := metrics.New(nil, metrics.NewOpts{})
	m.ScheduleFired("nightly")
	m.ScheduleFired("nightly")
	// One FireDue: two catch-up tasks for nightly, one for feeds, and a
	// schedule skipped for overlap, which enqueued nothing.
	m.Fired([]queue.Firing{
		{Schedule: "nightly", TaskIDs: []int64{7, 8}},
		{Schedule: "feeds", TaskIDs: []int64{9}},
		{Schedule: "busy", Overlap: true, Dropped: 1},
	})
	path := filepath.Join(t.TempDir(), "sluice.prom")
	if err := m.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(path)
	defer f.Close()
	fams := parse(t, f)
	for name, want := range map[string]float64{"nightly": 4, "feeds": 1} {
		if got := value(series(fams, "sluice_schedules_fired_total", map[string]string{"schedule": name})); got != want {
			t.Errorf("schedules fired for %s = %v; want %v", name, got, want)
		}
	}
	for _, m := range fams["sluice_schedules_fired_total"].GetMetric() {
		for _, l := range m.Label {
			if l.GetValue() == "busy" {
				t.Error("a schedule that enqueued nothing has a sluice_schedules_fired_total series")
			}
		}
	}
}

type fakeStats struct {
	stats []queue.QueueStats
	err   error
}

func (f fakeStats) Stats(context.Context) ([]queue.QueueStats, error) { return f.stats, f.err }

func report(job string, kinds ...queue.Kind) worker.Report {
	var r worker.Report
	for _, k := range kinds {
		r.Done = append(r.Done, worker.Done{Job: job, Queue: "default",
			Outcome: queue.Outcome{Kind: k, Duration: 2 * time.Millisecond}})
	}
	return r
}

// TestWriteFileAccumulatesAcrossDrains: each drain is a new process, yet
// the file's counters must only grow, as Prometheus expects of counters.
func TestWriteFileAccumulatesAcrossDrains(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sluice.prom")
	read := func() map[string]*dto.MetricFamily {
		t.Helper()
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		return parse(t, f)
	}

	first := metrics.New(fakeStats{stats: []queue.QueueStats{{Queue: "default", Due: 7}}}, metrics.NewOpts{})
	first.Observe(report("a", queue.Succeed, queue.Succeed, queue.Fail))
	first.Observe(worker.Report{Recovered: 1})
	if err := first.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	second := metrics.New(fakeStats{stats: []queue.QueueStats{{Queue: "default", Due: 2}}}, metrics.NewOpts{})
	second.Observe(report("a", queue.Succeed))
	second.Observe(report("b", queue.Cancel))
	if err := second.WriteFile(path); err != nil {
		t.Fatal(err)
	}

	fams := read()
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"sluice_tasks_total", map[string]string{"job": "a", "queue": "default", "outcome": "succeeded"}, 3},
		{"sluice_tasks_total", map[string]string{"job": "a", "queue": "default", "outcome": "failed"}, 1},
		{"sluice_tasks_total", map[string]string{"job": "b", "queue": "default", "outcome": "cancelled"}, 1},
		{"sluice_tasks_recovered_total", map[string]string{}, 1},
		{"sluice_queue_depth", map[string]string{"queue": "default"}, 2}, // a gauge: replaced, not added
	} {
		if got := value(series(fams, c.name, c.labels)); got != c.want {
			t.Errorf("%s%v = %v; want %v", c.name, c.labels, got, c.want)
		}
	}
	h := series(fams, "sluice_task_duration_seconds", map[string]string{"job": "a"}).Histogram
	if h.GetSampleCount() != 4 || h.GetSampleSum() < 0.0079 || h.GetSampleSum() > 0.0081 {
		t.Errorf("histogram count %d sum %v; want 4 and 0.008", h.GetSampleCount(), h.GetSampleSum())
	}
	for _, b := range h.Bucket {
		if want := uint64(4); b.GetUpperBound() >= 0.002 && b.GetCumulativeCount() != want {
			t.Errorf("bucket le=%v holds %d; want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}

	t.Run("replaced atomically, readable by node_exporter", func(t *testing.T) {
		entries, _ := os.ReadDir(dir)
		if len(entries) != 1 {
			t.Errorf("folder holds %v; want only sluice.prom (no temporary files left)", entries)
		}
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != 0o644 {
			t.Errorf("mode %v, %v; want 0644", fi.Mode(), err)
		}
	})

	t.Run("a corrupt file is reported and left alone", func(t *testing.T) {
		os.WriteFile(path, []byte("this is { not metrics\n"), 0o644)
		err := second.WriteFile(path)
		if err == nil || !strings.Contains(err.Error(), "delete it to start the counters afresh") {
			t.Errorf("err = %v; want one saying what to do", err)
		}
		if b, _ := os.ReadFile(path); string(b) != "this is { not metrics\n" {
			t.Errorf("file rewritten: %q", b)
		}
	})

	t.Run("a stats error is reported, the rest written", func(t *testing.T) {
		os.Remove(path)
		m := metrics.New(fakeStats{err: errors.New("disk I/O error")}, metrics.NewOpts{})
		m.Observe(report("a", queue.Succeed))
		err := m.WriteFile(path)
		if err == nil || !strings.Contains(err.Error(), "disk I/O error") {
			t.Errorf("err = %v; want the stats error", err)
		}
		if got := value(series(read(), "sluice_tasks_total", map[string]string{"job": "a", "queue": "default", "outcome": "succeeded"})); got != 1 {
			t.Errorf("counter = %v; want 1", got)
		}
	})

	t.Run("an unwritable folder is an error", func(t *testing.T) {
		err := first.WriteFile(filepath.Join(dir, "missing", "sluice.prom"))
		if err == nil || !strings.Contains(err.Error(), "missing") {
			t.Errorf("err = %v; want one naming the path", err)
		}
	})
}

func TestServeBadAddress(t *testing.T) {
	m := metrics.New(nil, metrics.NewOpts{})
	err := metrics.Serve(context.Background(), "not an address", m.Handler(nil, nil), metrics.ServeOpts{})
	if err == nil || !strings.Contains(err.Error(), "not an address") {
		t.Fatalf("err = %v; want one naming the address", err)
	}
}
