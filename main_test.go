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
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/jobs"
	"github.com/sluicehq/sluice/queue"
)

// TestMain lets the tests run their own binary as a sluice process with
// extra jobs: BE_SLUICE=1 turns it into `sluice`, so crash and concurrency
// tests use real processes and real signals.
func TestMain(m *testing.M) {
	if os.Getenv("BE_SLUICE") == "1" {
		os.Exit(runMain(testJobs()))
	}
	os.Exit(m.Run())
}

// testJobs adds jobs that record every run outside the queue (RECORD_FILE),
// and that block until their context ends (HANG=1).
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
		return nil, appendLine(os.Getenv("RECORD_FILE"), fmt.Sprintf("%d %d", info.TaskID, info.Attempt))
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
	cmd.Env = append(os.Environ(), "BE_SLUICE=1", "SLUICE_DB="+db, "SLUICE_LOG_FORMAT=json")
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

func enqueueN(t *testing.T, s *queue.Store, n int, job string, payload func(i int) string) []int64 {
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

// TestConcurrentDrainsRunEveryTaskOnce starts several drains together on one
// file: every task runs exactly once (each run is recorded outside the queue)
// and no "database is locked" error surfaces.
func TestConcurrentDrainsRunEveryTaskOnce(t *testing.T) {
	for _, tt := range []struct{ procs, tasks int }{{2, 2000}, {4, volume}} {
		t.Run(fmt.Sprintf("%d processes %d tasks", tt.procs, tt.tasks), func(t *testing.T) {
			concurrentDrains(t, tt.procs, tt.tasks)
		})
	}
}

func concurrentDrains(t *testing.T, procs, n int) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sluice.db")
	record := filepath.Join(dir, "runs.txt")
	s := openStore(t, path)
	enqueueN(t, s, n, "record", func(int) string { return `{}` })

	var wg sync.WaitGroup
	stderrs := make([]bytes.Buffer, procs)
	errs := make([]error, procs)
	for i := range procs {
		cmd := sluice(t, path, []string{"RECORD_FILE=" + record, "SLUICE_WORKERS=4"}, "drain")
		cmd.Stderr = &stderrs[i]
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = cmd.Run() }()
	}
	wg.Wait()
	for i := range procs {
		if errs[i] != nil {
			t.Fatalf("drain %d: %v\n%s", i, errs[i], stderrs[i].String())
		}
		if e := stderrs[i].String(); strings.Contains(e, "locked") || strings.Contains(e, "busy") {
			t.Errorf("drain %d logged a lock error:\n%s", i, e)
		}
	}
	runs := readRuns(t, record)
	if len(runs) != n {
		t.Errorf("%d distinct tasks ran; want %d", len(runs), n)
	}
	for id, count := range runs {
		if count != 1 {
			t.Errorf("task %d ran %d times", id, count)
		}
	}
	if got := queryInt(t, s.DB().Read, "SELECT count(*) FROM tasks WHERE state = 'succeeded'"); got != n {
		t.Errorf("succeeded = %d; want %d", got, n)
	}
}

// readRuns returns how many times each task id was recorded.
func readRuns(t *testing.T, path string) map[int64]int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	runs := map[int64]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if line == "" {
			continue
		}
		idText, _, _ := strings.Cut(line, " ")
		id, err := strconv.ParseInt(idText, 10, 64)
		if err != nil {
			t.Fatalf("bad record line %q", line)
		}
		runs[id]++
	}
	return runs
}

// TestKilledWorkerLosesNothing kills a drain with SIGKILL while it runs a
// task; once the lease expires another drain runs the task again with the
// lost attempt counted, and a task that keeps killing its worker ends failed.
func TestKilledWorkerLosesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sluice.db")
	s := openStore(t, path)
	ctx := context.Background()
	id, err := s.Enqueue(ctx, queue.EnqueueParams{Job: "hang", MaxAttempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	// Lease = timeout + (RETRY - TIMEOUT) = 2.5s.
	env := []string{"HANG=1", "SLUICE_TIMEOUT=2s", "SLUICE_RETRY=2500ms", "SLUICE_KILL_GRACE=0s"}

	killWhileRunning := func(attempt int) {
		t.Helper()
		cmd := sluice(t, path, env, "drain")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, fmt.Sprintf("attempt %d to run", attempt), 10*time.Second, func() bool {
			task, err := s.Get(ctx, id)
			return err == nil && task.State == queue.Running && task.Attempt == attempt
		})
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		task, _ := s.Get(ctx, id)
		waitFor(t, "the lease to expire", 10*time.Second, func() bool { return time.Now().After(task.LeaseUntil) })
	}

	killWhileRunning(1)
	// A healthy drain after the lease: the task runs again, attempt 2.
	mustRun(t, sluice(t, path, nil, "drain"))
	task, _ := s.Get(ctx, id)
	if task.State != queue.Succeeded || task.Attempt != 2 || len(task.History) != 2 ||
		task.History[0].Outcome != "lease_expired" || !strings.Contains(task.History[0].Error, "lease expired") {
		t.Fatalf("after recovery: %s attempt %d history %+v", task.State, task.Attempt, task.History)
	}

	// A task that kills its worker every time ends failed when attempts run out.
	id, _ = s.Enqueue(ctx, queue.EnqueueParams{Job: "hang", MaxAttempts: 2})
	killWhileRunning(1)
	killWhileRunning(2)
	out, _ := mustRun(t, sluice(t, path, nil, "drain"))
	task, _ = s.Get(ctx, id)
	if task.State != queue.Failed || task.Attempt != 2 || !strings.Contains(task.Error, "lease expired") {
		t.Fatalf("after two kills: %s attempt %d error %q (drain said %s)", task.State, task.Attempt, task.Error, out)
	}
	if !strings.Contains(out, "0 ran") || !strings.Contains(out, "1 recovered") {
		t.Errorf("final drain summary: %s", out)
	}
}
