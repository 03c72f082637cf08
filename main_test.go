package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/pgtest"
	"github.com/sluicehq/sluice/jobs"
	"github.com/sluicehq/sluice/queue"
)

// TestMain lets the tests run their own binary as a sluice process with
// extra jobs: BE_SLUICE=1 turns it into `sluice`, so crash and concurrency
// tests use real processes and real signals.
//
// pgtest.Main stops the private PostgreSQL server the tests may start.
func TestMain(m *testing.M) {
	if os.Getenv("BE_SLUICE") == "1" {
		os.Exit(runMain(testJobs()))
	}
	os.Exit(pgtest.Main(m))
}

// testJobs adds jobs that record every run outside the queue (RECORD_FILE,
// "task attempt pid" lines), and that block until their context ends
// (HANG=1).
func testJobs() *jobs.Registry {
	reg := jobs.NewRegistry()
	reg.Register("record", func(ctx context.Context, payload json.RawMessage) ([]byte, error) {
		info, _ := jobs.InfoFrom(ctx)
		var p struct {
			SleepMS int `json:"sleep_ms"`
		}
		json.Unmarshal(payload, &p)
		if p.SleepMS > 0 {
			select {
			case <-time.After(time.Duration(p.SleepMS) * time.Millisecond):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return nil, appendLine(os.Getenv("RECORD_FILE"), fmt.Sprintf("%d %d %d", info.TaskID, info.Attempt, os.Getpid()))
	})
	reg.Register("ignore", func(ctx context.Context, _ json.RawMessage) ([]byte, error) {
		// Ignores its context entirely, as a badly written handler would.
		os.WriteFile(os.Getenv("PID_FILE"), []byte(strconv.Itoa(os.Getpid())), 0o600)
		select {}
	})
	reg.Register("reject", func(context.Context, json.RawMessage) ([]byte, error) {
		return nil, jobs.Permanent(errors.New("rejected: this payload can never work"))
	})
	reg.Register("escape", func(ctx context.Context, _ json.RawMessage) ([]byte, error) {
		// Leaves a process behind as Chromium's crash handler does, then hangs.
		if err := exec.Command("sh", "-c", escapeScript).Run(); err != nil {
			return nil, err
		}
		<-ctx.Done()
		return nil, ctx.Err()
	})
	reg.Register("slow", func(ctx context.Context, payload json.RawMessage) ([]byte, error) {
		// Records "start|stop id attempt pid unix_nano" lines: when each
		// attempt began, and when it ended by its context (stopped).
		info, _ := jobs.InfoFrom(ctx)
		var p struct {
			SleepMS int `json:"sleep_ms"`
		}
		json.Unmarshal(payload, &p)
		line := func(what string) string {
			return fmt.Sprintf("%s %d %d %d %d", what, info.TaskID, info.Attempt, os.Getpid(), time.Now().UnixNano())
		}
		appendLine(os.Getenv("RECORD_FILE"), line("start"))
		select {
		case <-time.After(time.Duration(p.SleepMS) * time.Millisecond):
			return nil, nil
		case <-ctx.Done():
			appendLine(os.Getenv("RECORD_FILE"), line("stop"))
			return nil, ctx.Err()
		}
	})
	reg.Register("hang", func(ctx context.Context, _ json.RawMessage) ([]byte, error) {
		if os.Getenv("HANG") == "1" {
			if f := os.Getenv("STARTED_FILE"); f != "" {
				appendLine(f, "started")
			}
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return []byte(`"finished"`), nil
	})
	return reg
}

// appendLine appends one line with a single O_APPEND write, so lines from
// concurrent processes never interleave.
func appendLine(path, line string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString(line + "\n")
	return err
}

// sluice returns a command running this test binary as sluice on db.
func sluice(t *testing.T, db string, env []string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	// pgtest's variable is the tests', not sluice's: sluice refuses SLUICE_*
	// variables it does not know.
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, pgtest.EnvURL+"=") })
	cmd.Env = append(cmd.Env, "BE_SLUICE=1", "SLUICE_DB="+db, "SLUICE_LOG_FORMAT=json")
	cmd.Env = append(cmd.Env, env...)
	return cmd
}

func mustRun(t *testing.T, cmd *exec.Cmd) (stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v: %v\nstdout: %s\nstderr: %s", cmd.Args, err, out.String(), errb.String())
	}
	return out.String(), errb.String()
}

func openStore(t *testing.T, path string) *queue.Store {
	t.Helper()
	s, err := queue.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func enqueueN(t *testing.T, s queue.Backend, n int, job string, payload func(i int) string) []int64 {
	t.Helper()
	ps := make([]queue.EnqueueParams, n)
	for i := range ps {
		ps[i] = queue.EnqueueParams{Job: job, Payload: json.RawMessage(payload(i))}
	}
	ids, err := s.EnqueueMany(context.Background(), ps)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, deadline time.Duration, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out after %s waiting for %s", deadline, what)
		}
		time.Sleep(10 * time.Millisecond) // a poll interval, not a wait for time to pass
	}
}

func queryInt(t *testing.T, db *sql.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func TestDrainTenThousandEchoTasks(t *testing.T) {
	n := volume
	path := filepath.Join(t.TempDir(), "sluice.db")
	s := openStore(t, path)
	enqueueN(t, s, n, "echo_test", func(i int) string { return fmt.Sprintf(`{"hello":"world","i":%d}`, i) })

	out, _ := mustRun(t, sluice(t, path, []string{"SLUICE_WORKERS=4"}, "drain"))
	if !strings.Contains(out, fmt.Sprintf("drained: %d ran, %d succeeded, 0 failed", n, n)) {
		t.Fatalf("summary: %s", out)
	}
	r := s.DB().Read
	if got := queryInt(t, r, "SELECT count(*) FROM tasks WHERE state = 'succeeded' AND result = payload AND attempt = 1"); got != n {
		t.Errorf("%d tasks succeeded with their payload as result; want %d", got, n)
	}
	out, _ = mustRun(t, sluice(t, path, nil, "drain"))
	if !strings.HasPrefix(out, "drained: 0 ran") {
		t.Errorf("second drain: %s", out)
	}
}

// TestConcurrentDrainsRunEveryTaskOnce starts several drains, and then also
// `sluice run` processes, together on one database, on each store: every
// task runs exactly once (each run is recorded outside the queue), no
// "database is locked" error surfaces, and every process exits 0 (the runs
// once SIGTERMed after every task is final).
func TestConcurrentDrainsRunEveryTaskOnce(t *testing.T) {
	forEachStore(t, func(t *testing.T, k storeKind) {
		for _, tt := range []struct{ drains, runs, tasks int }{{2, 0, 2000}, {4, 2, volume}} {
			t.Run(fmt.Sprintf("%d drains %d runs %d tasks", tt.drains, tt.runs, tt.tasks), func(t *testing.T) {
				db, s := k.fresh(t)
				concurrentDrains(t, db, s, tt.drains, tt.runs, tt.tasks)
			})
		}
	})
}

func concurrentDrains(t *testing.T, db string, s queue.Backend, drains, runs, n int) {
	record := filepath.Join(t.TempDir(), "runs.txt")
	enqueueN(t, s, n, "record", func(int) string { return `{}` })

	env := []string{"RECORD_FILE=" + record, "SLUICE_WORKERS=4"}
	procs := make([]*exec.Cmd, drains+runs)
	stderrs := make([]syncBuffer, len(procs))
	for i := range procs {
		command := "drain"
		if i >= drains {
			command = "run"
		}
		procs[i] = sluice(t, db, env, command)
		procs[i].Stderr = &stderrs[i]
		if err := procs[i].Start(); err != nil {
			t.Fatal(err)
		}
		defer procs[i].Process.Kill() // if the test fails before they exit
	}
	ctx := context.Background()
	waitFor(t, "every task to be final", 2*time.Minute, func() bool {
		c, err := s.Counts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return c[queue.Queued]+c[queue.Running] == 0
	})
	for i, cmd := range procs {
		if i >= drains {
			cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	for i, cmd := range procs {
		if err := waitExit(t, cmd, time.Minute); err != nil {
			t.Fatalf("%s: %v\n%s", cmd.Args[1:], err, stderrs[i].String())
		}
		if e := stderrs[i].String(); strings.Contains(e, "locked") || strings.Contains(e, "busy") {
			t.Errorf("%s logged a lock error:\n%s", cmd.Args[1:], e)
		}
	}
	runsOf, byPID := readRuns(t, record)
	var split []string
	for _, cmd := range procs {
		split = append(split, fmt.Sprintf("%s %d", cmd.Args[1], byPID[cmd.Process.Pid]))
	}
	t.Logf("runs per process: %s", strings.Join(split, ", "))
	if len(runsOf) != n {
		t.Errorf("%d distinct tasks ran; want %d", len(runsOf), n)
	}
	for id, count := range runsOf {
		if count != 1 {
			t.Errorf("task %d ran %d times", id, count)
		}
	}
	if c, err := s.Counts(ctx); err != nil || c[queue.Succeeded] != n {
		t.Errorf("counts = %v, %v; want %d succeeded", c, err, n)
	}
}

// readRuns returns how many times each task id was recorded, and how many
// runs each process (by pid) recorded.
func readRuns(t *testing.T, path string) (runs map[int64]int, byPID map[int]int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	runs, byPID = map[int64]int{}, map[int]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if line == "" {
			continue
		}
		var (
			id           int64
			attempt, pid int
		)
		if _, err := fmt.Sscan(line, &id, &attempt, &pid); err != nil {
			t.Fatalf("bad record line %q: %v", line, err)
		}
		runs[id]++
		byPID[pid]++
	}
	return runs, byPID
}

// TestKilledWorkerLosesNothing kills a drain with SIGKILL while it runs two
// tasks; once the dead worker's heartbeat is stale another drain runs them
// again with the lost attempt counted: one succeeds at its second attempt,
// the other, with one attempt allowed (a task that kills its worker every
// time), ends failed.
func TestKilledWorkerLosesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sluice.db")
	s := openStore(t, path)
	ctx := context.Background()
	again, err := s.Enqueue(ctx, queue.EnqueueParams{Job: "hang", MaxAttempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	once, err := s.Enqueue(ctx, queue.EnqueueParams{Job: "hang", MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	cmd := sluice(t, path, append([]string{"HANG=1", "SLUICE_WORKERS=2"}, fastHeartbeat...), "drain")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both tasks to run", 20*time.Second, func() bool {
		c, _ := s.Counts(ctx)
		return c[queue.Running] == 2
	})
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	waitDead(t, s)

	// A healthy drain after the stale limit takes both back.
	out, _ := mustRun(t, sluice(t, path, nil, "drain"))
	task, _ := s.Get(ctx, again)
	if task.State != queue.Succeeded || task.Attempt != 2 || len(task.History) != 2 ||
		task.History[0].Outcome != queue.OutcomeWorkerDied || task.History[0].Error != queue.WorkerDiedError {
		t.Errorf("after recovery: %s attempt %d history %+v", task.State, task.Attempt, task.History)
	}
	task, _ = s.Get(ctx, once)
	if task.State != queue.Failed || task.Attempt != 1 || task.Error != queue.WorkerDiedError {
		t.Errorf("with no attempt left: %s attempt %d error %q", task.State, task.Attempt, task.Error)
	}
	if !strings.Contains(out, "1 ran") || !strings.Contains(out, "2 recovered") {
		t.Errorf("drain summary: %s", out)
	}
}

// fastHeartbeat makes workers heartbeat often and be judged dead soon: the
// stale limit is the smallest config accepts (it must exceed the heartbeat
// plus the database's 5 s busy timeout).
var fastHeartbeat = []string{"SLUICE_HEARTBEAT=100ms", "SLUICE_STALE_AFTER=5200ms"}

// waitDead waits until every registered worker's heartbeat is stale, so the
// next claim takes back what they held.
func waitDead(t *testing.T, s *queue.Store) {
	t.Helper()
	waitFor(t, "the killed worker's heartbeat to go stale", 20*time.Second, func() bool {
		workers, err := s.Workers(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range workers {
			if !w.Stale(time.Now()) {
				return false
			}
		}
		return true
	})
}
