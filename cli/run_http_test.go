package cli_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/sluicehq/sluice/cli"
	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/schedule"
)

// freeLoopbackAddr returns a loopback address with a port nothing listens
// on. SLUICE_HTTP_ADDR cannot say "any port", so the test picks one.
func freeLoopbackAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// httpGet returns the status and body of GET url; code 0 when it cannot connect.
func httpGet(tb testing.TB, url string) (int, string) {
	tb.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// scrape reads /metrics with the Prometheus text parser.
func scrape(tb testing.TB, base string) map[string]*dto.MetricFamily {
	tb.Helper()
	code, body := httpGet(tb, base+"/metrics")
	if code != http.StatusOK {
		tb.Fatalf("GET /metrics: %d %s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		tb.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	return fams
}

// readProm reads a metrics file written for node_exporter's textfile collector.
func readProm(tb testing.TB, path string) map[string]*dto.MetricFamily {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(f)
	if err != nil {
		tb.Fatalf("parse %s: %v", path, err)
	}
	return fams
}

// counter returns the value of the series of family name whose labels
// include want; -1 when there is none.
func counter(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
series:
	for _, m := range fams[name].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue series
			}
		}
		return m.GetCounter().GetValue()
	}
	return -1
}

// TestRunServesMetrics runs `sluice run` in-process with SLUICE_HTTP_ADDR on
// loopback: tasks added by another connection run, /metrics counts them as
// the database records them, /healthz answers 200, and the server stops
// with the run.
func TestRunServesMetrics(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	addr := freeLoopbackAddr(t)
	base := "http://" + addr
	env := environ(path, "SLUICE_POLL=50ms", "SLUICE_HTTP_ADDR="+addr, `SLUICE_EXEC_FAIL=["false"]`)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := storeAt(t, path, &clock{t: time.Now()})
	// Due at once, then hourly: run fires it as it starts.
	if _, err := s.AddSchedule(ctx, queue.ScheduleParams{Name: "tick", Job: "echo_test",
		Spec: schedule.Spec{Type: schedule.Hourly}}); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	done := make(chan error, 1)
	go func() {
		m := &cli.Main{Environ: env, Stdout: &out, Stderr: &errOut}
		done <- m.Run(ctx, []string{"run"})
	}()
	waitFor(t, "/healthz to answer", func() bool {
		select {
		case err := <-done:
			t.Fatalf("run ended early: %v\n%s", err, errOut.String())
		default:
		}
		code, _ := httpGet(t, base+"/healthz")
		return code == http.StatusOK
	})

	for range 3 {
		if _, err := s.Enqueue(ctx, queue.EnqueueParams{Job: "echo_test"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Enqueue(ctx, queue.EnqueueParams{Job: "fail", MaxAttempts: 1}); err != nil {
		t.Fatal(err)
	}
	db := s.DB().Read
	waitFor(t, "the scheduled task and the four enqueued ones to finish", func() bool {
		return queryInt(t, db, "SELECT count(*) FROM tasks WHERE state IN ('succeeded', 'failed')") == 5
	})

	// Outcomes are counted right after they are written: poll for them too.
	var fams map[string]*dto.MetricFamily
	waitFor(t, "the outcomes in /metrics", func() bool {
		fams = scrape(t, base)
		return counter(fams, "sluice_tasks_total", map[string]string{"job": "fail", "outcome": "failed"}) == 1
	})
	for _, c := range []struct{ job, outcome, state string }{{"echo_test", "succeeded", "succeeded"}, {"fail", "failed", "failed"}} {
		got := counter(fams, "sluice_tasks_total", map[string]string{"job": c.job, "queue": "default", "outcome": c.outcome})
		want := queryInt(t, db, "SELECT count(*) FROM tasks WHERE job = ? AND state = ?", c.job, c.state)
		if got != float64(want) {
			t.Errorf("sluice_tasks_total{job=%q,outcome=%q} = %v; the database has %d", c.job, c.outcome, got, want)
		}
	}
	fired := counter(fams, "sluice_schedules_fired_total", map[string]string{"schedule": "tick"})
	if want := queryInt(t, db, "SELECT count(*) FROM tasks WHERE schedule_id IS NOT NULL"); fired != float64(want) || want != 1 {
		t.Errorf("sluice_schedules_fired_total{schedule=tick} = %v; the database has %d scheduled tasks, want 1", fired, want)
	}
	if _, ok := fams["sluice_task_duration_seconds"]; !ok {
		t.Error("no sluice_task_duration_seconds in /metrics")
	}
	if code, body := httpGet(t, base+"/healthz"); code != http.StatusOK || strings.TrimSpace(body) != "ok" {
		t.Errorf("GET /healthz: %d %q; want 200 ok", code, body)
	}
	if code, body := httpGet(t, base+"/"); code != http.StatusOK || !strings.Contains(body, "<h1>Overview</h1>") {
		t.Errorf("GET /: %d; want the web overview beside /metrics", code)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "ran: 5 ran, 4 succeeded, 1 failed") {
		t.Errorf("summary %q; want 5 ran", out.String())
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after the run ended", addr)
	}
}

// TestRunHTTPAddrInUse fails the start, before any task runs, when the
// address is taken.
func TestRunHTTPAddrInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	path := filepath.Join(t.TempDir(), "q.db")
	var errOut bytes.Buffer
	m := &cli.Main{Environ: environ(path, "SLUICE_HTTP_ADDR="+ln.Addr().String()), Stderr: &errOut}
	err = m.Run(context.Background(), []string{"run"})
	if err == nil || !strings.Contains(err.Error(), "SLUICE_HTTP_ADDR") || cli.ExitCode(err) != cli.ExitFailure {
		t.Fatalf("run on a busy port: %v (exit %d); want an error naming SLUICE_HTTP_ADDR, exit 1", err, cli.ExitCode(err))
	}
}

// TestRunPrunes: `sluice run` applies SLUICE_KEEP_SUCCEEDED as it starts
// and says what it removed when it ends.
func TestRunPrunes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	s := storeAt(t, path, &clock{t: time.Now()})
	old := time.Now().Add(-48 * time.Hour).UnixMilli()
	for range 3 {
		if _, err := s.DB().Write.Exec(`INSERT INTO tasks (job, state, attempt, created_at, run_at, finished_at, result)
			VALUES ('echo_test', 'succeeded', 1, ?1, ?1, ?1, '{}')`, old); err != nil {
			t.Fatal(err)
		}
	}
	recent, err := s.Enqueue(context.Background(), queue.EnqueueParams{Job: "echo_test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() {
		m := &cli.Main{Environ: environ(path, "SLUICE_KEEP_SUCCEEDED=1d"), Stdout: &out}
		done <- m.Run(ctx, []string{"run"})
	}()
	db := s.DB().Read
	waitFor(t, "the old tasks to go and the new one to succeed", func() bool {
		return queryInt(t, db, "SELECT count(*) FROM tasks") == 1 &&
			queryInt(t, db, "SELECT count(*) FROM tasks WHERE id = ? AND state = 'succeeded'", recent) == 1
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "3 old finished tasks removed") {
		t.Errorf("summary %q; want 3 old finished tasks removed", out.String())
	}
}
