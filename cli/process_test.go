package cli_test

import (
	"bytes"
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/cli"
	"github.com/sluicehq/sluice/internal/pgtest"
	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/schedule"
	"github.com/sluicehq/sluice/sqlitewal"
	"github.com/sluicehq/sluice/supervisor"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

func TestMain(m *testing.M) {
	// cli.Main run in-process supervises exec jobs with this test binary.
	if len(os.Args) > 1 && os.Args[1] == supervisor.Command {
		os.Exit(supervisor.Main(os.Args[2:], os.Stderr))
	}
	flag.Parse()
	code := pgtest.Main(m) // stops the private PostgreSQL server the tests may start
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// sluiceBinary builds the real binary once per test binary.
func sluiceBinary(tb testing.TB) string {
	tb.Helper()
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "sluice-bin-"); binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "sluice")
		cmd := exec.Command("go", "build", "-o", binPath, ".")
		cmd.Dir = ".." // the repository root
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		tb.Fatal(binErr)
	}
	return binPath
}

// storeAt opens the queue file at path with a settable clock.
func storeAt(tb testing.TB, path string, clk *clock) *queue.Store {
	tb.Helper()
	db, err := sqlitewal.Open(context.Background(), path, sqlitewal.Options{Migrations: queue.Migrations})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return queue.New(db, queue.NewOpts{Now: clk.Now})
}

func environ(db string, extra ...string) []string {
	return append([]string{"SLUICE_DB=" + db, "SLUICE_LOG_FORMAT=json", "PATH=" + os.Getenv("PATH")}, extra...)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond) // polling interval of the test, not an assertion on time
	}
}

func queryInt(tb testing.TB, db *sql.DB, q string, args ...any) int64 {
	tb.Helper()
	var n sql.NullInt64
	if err := db.QueryRow(q, args...).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n.Int64
}

// TestTenDrainsFireEachDueTimeOnce starts ten real drain processes together
// over the same overdue schedules and one declared in SLUICE_SCHEDULES: every
// due time must yield exactly one task.
func TestTenDrainsFireEachDueTimeOnce(t *testing.T) {
	bin := sluiceBinary(t)
	path := filepath.Join(t.TempDir(), "q.db")
	now := time.Now().Truncate(time.Second)
	start := now.Add(-65 * time.Minute) // due times start, +10m, ..., +60m: seven each
	s := storeAt(t, path, &clock{t: start})
	for _, name := range []string{"a", "b", "c"} {
		if _, err := s.AddSchedule(context.Background(), queue.ScheduleParams{Name: name, Job: "echo_test",
			CatchUp: schedule.CatchUpAll, Spec: schedule.Spec{Type: schedule.Minutes, Every: 10, Start: start}}); err != nil {
			t.Fatal(err)
		}
	}
	env := environ(path, `SLUICE_SCHEDULES=[{"name":"declared","job":"echo_test","type":"minutes","every":10}]`)
	cmds := make([]*exec.Cmd, 10)
	outs := make([]bytes.Buffer, 10)
	for i := range cmds {
		cmds[i] = exec.Command(bin, "drain")
		cmds[i].Env = env
		cmds[i].Stdout, cmds[i].Stderr = &outs[i], &outs[i]
	}
	for _, c := range cmds {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Errorf("drain %d: %v\n%s", i, err, outs[i].String())
		}
	}
	db := s.DB().Read
	total := queryInt(t, db, "SELECT count(*) FROM tasks")
	distinct := queryInt(t, db, "SELECT count(*) FROM (SELECT DISTINCT schedule_id, scheduled_for FROM tasks)")
	succeeded := queryInt(t, db, "SELECT count(*) FROM tasks WHERE state = 'succeeded'")
	if total != 3*7+1 || distinct != total || succeeded != total {
		t.Errorf("tasks = %d, distinct due times = %d, succeeded = %d; want %d of each", total, distinct, succeeded, 3*7+1)
	}
	if n := queryInt(t, db, "SELECT count(*) FROM schedules WHERE name = 'declared' AND source = 'env'"); n != 1 {
		t.Errorf("declared schedule rows = %d; want 1", n)
	}
}

// TestDrainAnHourLate fires every-10-minutes schedules at T, then drains (in
// process, with the real clock) 65 minutes later: one, all and none yield
// 1, 6 and 0 more tasks.
func TestDrainAnHourLate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	now := time.Now().Truncate(time.Second)
	clk := &clock{t: now.Add(-65 * time.Minute)}
	s := storeAt(t, path, clk)
	ctx := context.Background()
	policies := []schedule.CatchUp{schedule.CatchUpOne, schedule.CatchUpAll, schedule.CatchUpNone}
	for _, p := range policies {
		if _, err := s.AddSchedule(ctx, queue.ScheduleParams{Name: string(p), Job: "echo_test", CatchUp: p,
			Spec: schedule.Spec{Type: schedule.Minutes, Every: 10}}); err != nil {
			t.Fatal(err)
		}
	}
	if f, err := s.FireDue(ctx); err != nil || len(f) != 3 {
		t.Fatalf("first firing = %+v, %v", f, err)
	}
	var out bytes.Buffer
	m := &cli.Main{Environ: environ(path), Stdout: &out}
	if err := m.Run(ctx, []string{"drain"}); err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"one": 2, "all": 7, "none": 1} // including the first run at T
	for name, n := range want {
		got := queryInt(t, s.DB().Read, `SELECT count(*) FROM tasks JOIN schedules ON schedules.id = tasks.schedule_id
			WHERE schedules.name = ? AND tasks.state = 'succeeded'`, name)
		if got != n {
			t.Errorf("%s: %d tasks succeeded; want %d (1 at T, %d late)", name, got, n, n-1)
		}
	}
}

// TestRunProcess starts a real `sluice run`: a task enqueued by another
// process starts within SLUICE_POLL, a schedule fires again each time its
// next run comes, and SIGTERM ends it with exit 0.
func TestRunProcess(t *testing.T) {
	bin := sluiceBinary(t)
	path := filepath.Join(t.TempDir(), "q.db")
	env := environ(path, "SLUICE_POLL=100ms")
	add := exec.Command(bin, "schedule", "add", "tick", "echo_test", "minutes", "60")
	add.Env = env
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("schedule add: %v\n%s", err, out)
	}
	var out bytes.Buffer
	run := exec.Command(bin, "run")
	run.Env, run.Stdout, run.Stderr = env, &out, &out
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- run.Wait() }()
	defer func() {
		if run.ProcessState == nil {
			run.Process.Kill()
			<-exited
		}
	}()
	s := storeAt(t, path, &clock{t: time.Now()})
	db := s.DB().Read
	succeeded := func(where string, args ...any) func() bool {
		return func() bool {
			return queryInt(t, db, "SELECT count(*) FROM tasks WHERE state = 'succeeded' AND "+where, args...) > 0
		}
	}

	// The schedule is due at once (no start), then in an hour; each time the
	// test moves its next run to now, run must fire it.
	waitFor(t, "the first scheduled run", succeeded("schedule_id IS NOT NULL"))
	for i := range 3 {
		due := time.Now().Add(200 * time.Millisecond) // distinct from every earlier due time
		if _, err := s.DB().Write.Exec("UPDATE schedules SET next_run_at = ? WHERE name = 'tick'", due.UnixMilli()); err != nil {
			t.Fatal(err)
		}
		waitFor(t, fmt.Sprintf("scheduled run %d", i+2), succeeded("scheduled_for = ?", due.UnixMilli()))
	}
	if n := queryInt(t, db, "SELECT count(*) FROM tasks"); n != 4 {
		t.Errorf("tasks = %d; want 4 scheduled runs", n)
	}

	enq := exec.Command(bin, "enqueue", "echo_test", `{"from":"another process"}`)
	enq.Env = env
	idText, err := enq.Output()
	if err != nil {
		t.Fatalf("enqueue: %v", err)
	}
	id, _ := strconv.ParseInt(strings.TrimSpace(string(idText)), 10, 64)
	waitFor(t, "the task enqueued by another process", succeeded("id = ?", id))

	run.Process.Signal(syscall.SIGTERM)
	if err := <-exited; err != nil {
		t.Fatalf("run exited with %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "ran: 5 ran, 5 succeeded") {
		t.Errorf("output:\n%s\nwant the summary of 5 runs", out.String())
	}
}

var latency = flag.Bool("sluice.latency", false, "measure enqueue-to-start latency of sluice run (TestRunLatency)")

// TestRunLatency measures how long a task enqueued by another process waits
// before `sluice run` starts it: started_at - created_at, both written by
// the database's clock. Run with: go test ./cli -run TestRunLatency -sluice.latency -v
func TestRunLatency(t *testing.T) {
	if !*latency {
		t.Skip("measurement: pass -sluice.latency")
	}
	bin := sluiceBinary(t)
	for _, poll := range []string{"1s", "100ms"} {
		t.Run("poll "+poll, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "q.db")
			env := environ(path, "SLUICE_POLL="+poll)
			run := exec.Command(bin, "run")
			run.Env = env
			if err := run.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { run.Process.Signal(syscall.SIGTERM); run.Wait() }()
			s := storeAt(t, path, &clock{t: time.Now()})
			var lat []time.Duration
			for range 20 {
				enq := exec.Command(bin, "enqueue", "echo_test")
				enq.Env = env
				idText, err := enq.Output()
				if err != nil {
					t.Fatal(err)
				}
				id, _ := strconv.ParseInt(strings.TrimSpace(string(idText)), 10, 64)
				var task queue.Task
				waitFor(t, "the task", func() bool {
					task, err = s.Get(context.Background(), id)
					return err == nil && task.State == queue.Succeeded
				})
				lat = append(lat, task.StartedAt.Sub(task.CreatedAt))
			}
			slices.Sort(lat)
			var sum time.Duration
			for _, d := range lat {
				sum += d
			}
			t.Logf("another process, SLUICE_POLL=%s, n=%d: mean %s, median %s, max %s", poll, len(lat),
				sum/time.Duration(len(lat)), lat[len(lat)/2], lat[len(lat)-1])
		})
	}
}
