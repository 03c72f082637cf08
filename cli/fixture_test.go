package cli_test

import (
	"bytes"
	"context"
	"database/sql"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/cli"
	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/schedule"
	"github.com/sluicehq/sluice/sqlitewal"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// t0 is "now" for every command in these tests.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time)     { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *clock) Ago(d time.Duration) { c.Set(t0.Add(-d)) }

// fixture is a queue file holding a known mix of tasks, built with the
// queue API on a fixed clock:
//
//	1 echo_test  group import   succeeded 3h ago in 1.5s
//	2 send_mail  queue mail     failed 90m ago after 2 of 2 attempts (multi-line error)
//	3 report     group import   cancelled 30m ago
//	4 echo_test  group import   running since 5m, held by the registered worker host-1-abcd
//	5 echo_test                 queued, due 10m ago
//	6 send_mail  queue mail     queued, due in 1h
//	7 report     unique nightly queued, due now, priority 5
//	8 resize_image_thumbnails_large  group import  failed 20m ago, long error, attempt 1 of 1
type fixture struct {
	path string
	ids  map[string]int64
}

func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	ctx := context.Background()
	f := &fixture{path: filepath.Join(tb.TempDir(), "sluice.db"), ids: map[string]int64{}}
	db, err := sqlitewal.Open(ctx, f.path, sqlitewal.Options{Migrations: queue.Migrations})
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	clk := &clock{}
	s := queue.New(db, queue.NewOpts{Now: clk.Now})
	enqueue := func(p queue.EnqueueParams) int64 {
		tb.Helper()
		id, err := s.Enqueue(ctx, p)
		if err != nil {
			tb.Fatal(err)
		}
		return id
	}
	claim := func(worker string) queue.Task {
		tb.Helper()
		res, err := s.Exchange(ctx, nil, queue.ClaimParams{Worker: worker, Limit: 1,
			DefaultTimeout: 2 * time.Minute, DefaultMaxAttempts: 3, LeaseMargin: time.Minute})
		if err != nil || len(res.Claimed) != 1 {
			tb.Fatalf("claim: %v, %d claimed", err, len(res.Claimed))
		}
		return res.Claimed[0]
	}
	outcome := func(worker string, o queue.Outcome) {
		tb.Helper()
		res, err := s.Exchange(ctx, []queue.Outcome{o}, queue.ClaimParams{Worker: worker})
		if err != nil || len(res.Stale) > 0 {
			tb.Fatalf("outcome: %v, %d stale", err, len(res.Stale))
		}
	}

	clk.Ago(3*time.Hour + 2*time.Second)
	f.ids["succeeded"] = enqueue(queue.EnqueueParams{Job: "echo_test", Group: "import", Payload: []byte(`{"n":1}`)})
	t := claim("w")
	clk.Ago(3 * time.Hour)
	outcome("w", queue.Outcome{ID: t.ID, Attempt: t.Attempt, Kind: queue.Succeed, StartedAt: t.StartedAt,
		Duration: 1500 * time.Millisecond, Result: []byte(`{"n":1}`)})

	clk.Ago(2 * time.Hour)
	f.ids["failed"] = enqueue(queue.EnqueueParams{Job: "send_mail", Queue: "mail", MaxAttempts: 2,
		Payload: []byte(`{"to":"a@example.com"}`)})
	t = claim("w")
	outcome("w", queue.Outcome{ID: t.ID, Attempt: t.Attempt, Kind: queue.Fail, StartedAt: t.StartedAt,
		Duration: 30 * time.Second, Error: "dial smtp: i/o timeout", RetryAt: t0.Add(-91 * time.Minute)})
	clk.Ago(91 * time.Minute)
	t = claim("w")
	clk.Ago(90 * time.Minute)
	outcome("w", queue.Outcome{ID: t.ID, Attempt: t.Attempt, Kind: queue.Fail, StartedAt: t.StartedAt,
		Duration: 42 * time.Second, Error: "dial smtp: connection refused\ngoroutine 7 [running]:\nmain.send()"})

	clk.Ago(40 * time.Minute)
	f.ids["cancelled"] = enqueue(queue.EnqueueParams{Job: "report", Group: "import"})
	t = claim("w")
	clk.Ago(30 * time.Minute)
	outcome("w", queue.Outcome{ID: t.ID, Attempt: t.Attempt, Kind: queue.Cancel, StartedAt: t.StartedAt,
		Duration: 10 * time.Minute, Error: "cancelled by the operator"})

	clk.Ago(21 * time.Minute)
	f.ids["failed2"] = enqueue(queue.EnqueueParams{Job: "resize_image_thumbnails_large", Group: "import", MaxAttempts: 1})
	t = claim("w")
	clk.Ago(20 * time.Minute)
	outcome("w", queue.Outcome{ID: t.ID, Attempt: t.Attempt, Kind: queue.Fail, StartedAt: t.StartedAt,
		Duration: 59 * time.Second, Error: "image decode: unexpected EOF while reading the IDAT chunk of /data/uploads/2026/02/28/very-long-file-name.png"})

	clk.Ago(6 * time.Minute)
	f.ids["running"] = enqueue(queue.EnqueueParams{Job: "echo_test", Group: "import", Timeout: 10 * time.Minute})
	clk.Ago(5 * time.Minute)
	if err := s.Register(ctx, queue.WorkerInfo{ID: "host-1-abcd", Host: "host-1", PID: 4242, Version: "v1.2.3",
		Command: "run", StaleAfter: time.Hour}); err != nil {
		tb.Fatal(err)
	}
	if res, err := s.Exchange(ctx, nil, queue.ClaimParams{Worker: "host-1-abcd", Registered: true, Limit: 1, Starts: 1,
		DefaultTimeout: 2 * time.Minute, DefaultMaxAttempts: 3}); err != nil || len(res.Claimed) != 1 {
		tb.Fatalf("claim by a registered worker: %v, %+v", err, res)
	}

	f.ids["queued"] = enqueue(queue.EnqueueParams{Job: "echo_test", RunAt: t0.Add(-10 * time.Minute)})
	f.ids["later"] = enqueue(queue.EnqueueParams{Job: "send_mail", Queue: "mail", RunAt: t0.Add(time.Hour)})
	clk.Set(t0)
	f.ids["unique"] = enqueue(queue.EnqueueParams{Job: "report", UniqueKey: "nightly", Priority: 5,
		Payload: []byte(`{"day":"2026-02-28","formats":["pdf","csv"]}`)})

	// Schedules, for status's next runs: six enabled (one more than status
	// shows), one paused.
	berlin, _ := time.LoadLocation("Europe/Berlin")
	newYork, _ := time.LoadLocation("America/New_York")
	for _, p := range []queue.ScheduleParams{
		{Name: "nightly", Job: "report", Spec: schedule.Spec{Type: schedule.Daily, Location: berlin,
			Start: time.Date(2026, 3, 1, 2, 30, 0, 0, berlin)}}, // 2026-03-02 01:30 UTC
		{Name: "feeds", Job: "echo_test", Spec: schedule.Spec{Type: schedule.Minutes, Every: 15, Start: t0.Add(5 * time.Minute)}},
		{Name: "weekday-mail", Job: "send_mail", Spec: schedule.Spec{Type: schedule.Cron, Cron: "0 9 * * 1-5", Location: newYork}},
		{Name: "hourly", Job: "echo_test", Spec: schedule.Spec{Type: schedule.Hourly, Start: t0.Add(30 * time.Minute)}},
		{Name: "monthly-invoices", Job: "resize_image_thumbnails_large", Spec: schedule.Spec{Type: schedule.Monthly,
			Start: time.Date(2026, 3, 31, 9, 0, 0, 0, time.UTC)}},
		{Name: "yearly", Job: "report", Spec: schedule.Spec{Type: schedule.Yearly, Start: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{Name: "paused", Job: "report", Spec: schedule.Spec{Type: schedule.Hourly, Start: t0.Add(time.Minute)}},
	} {
		if _, err := s.AddSchedule(ctx, p); err != nil {
			tb.Fatal(err)
		}
	}
	if err := s.PauseSchedule(ctx, "paused"); err != nil {
		tb.Fatal(err)
	}
	return f
}

// run runs one sluice command in-process at t0, laid out for an 80-column
// terminal, and returns its output and exit code.
func (f *fixture) run(tb testing.TB, env []string, args ...string) (stdout, stderr string, code int) {
	tb.Helper()
	return f.runWidth(tb, 80, env, args...)
}

// runWidth is run for a terminal width columns wide (0: a pipe).
func (f *fixture) runWidth(tb testing.TB, width int, env []string, args ...string) (stdout, stderr string, code int) {
	tb.Helper()
	var out, errOut bytes.Buffer
	m := &cli.Main{
		Environ: append([]string{"SLUICE_DB=" + f.path}, env...),
		Stdout:  &out, Stderr: &errOut,
		Now:   func() time.Time { return t0 },
		Width: width,
	}
	err := m.Run(context.Background(), args)
	if err != nil {
		cli.PrintError(&errOut, err)
	}
	return out.String(), errOut.String(), cli.ExitCode(err)
}

// snapshot returns every task row as text, to check a command changed nothing.
func (f *fixture) snapshot(tb testing.TB) string {
	tb.Helper()
	db, err := sql.Open("sqlite3", "file:"+f.path+"?mode=ro")
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	var s sql.NullString
	if err := db.QueryRow(`SELECT group_concat(json_array(id, job, state, attempt, run_at, finished_at, history), char(10))
		FROM (SELECT * FROM tasks ORDER BY id)`).Scan(&s); err != nil {
		tb.Fatal(err)
	}
	return s.String
}

// golden compares got with testdata/name.golden; -update rewrites it. Its
// lines must fit 80 columns.
func golden(tb testing.TB, name, got string) {
	tb.Helper()
	goldenWidth(tb, name, got, 80)
}

// goldenWidth is golden for output whose lines must fit width columns (0: any).
func goldenWidth(tb testing.TB, name, got string, width int) {
	tb.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			tb.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("%v (run go test ./cli -update to create it)", err)
	}
	if got != string(want) {
		tb.Errorf("output differs from %s (go test ./cli -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
	for i, line := range strings.Split(got, "\n") {
		if n := len([]rune(line)); width > 0 && n > width {
			tb.Errorf("%s line %d is %d columns wide; want at most %d:\n%s", path, i+1, n, width, line)
		}
	}
}
