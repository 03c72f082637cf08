package main

import (
	"bytes"
	"context"
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

	"github.com/sluicehq/sluice/internal/proctest"
	"github.com/sluicehq/sluice/queue"
)

// drainUntil runs drains until every task in s is final, or fails the test at the deadline.
func drainUntil(t *testing.T, s queue.Backend, path string, env []string, deadline time.Duration) {
	t.Helper()
	end := time.Now().Add(deadline)
	for {
		mustRun(t, sluice(t, path, env, "drain"))
		counts, err := s.Counts(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if counts[queue.Queued]+counts[queue.Running] == 0 {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("tasks still not final after %s: %v", deadline, counts)
		}
		time.Sleep(20 * time.Millisecond) // poll interval between drains
	}
}

// liveInGroup lists the pids in process group pgid that are not zombies.
func liveInGroup(pgid int) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(stat)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:]) // state, ppid, pgrp, ...
		if len(f) > 2 && f[0] != "Z" && f[2] == strconv.Itoa(pgid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func readPID(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// TestExecJobKilledAtTimeout: a command that sleeps forever, with a child of
// its own, under a 2 s timeout: each attempt kills the whole group, and the
// task fails after its attempts with "timeout after 2s".
func TestExecJobKilledAtTimeout(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sluice.db")
	s := openStore(t, path)
	script := `trap '' TERM; echo $$ > ` + dir + `/pid.$SLUICE_TASK_ATTEMPT; sleep 1000 & sleep 1000; wait`
	env := []string{
		`SLUICE_EXEC_SLEEPER=["sh","-c",` + strconv.Quote(script) + `]`,
		"SLUICE_KILL_GRACE=300ms", "SLUICE_BACKOFF_BASE=10ms", "SLUICE_BACKOFF_MAX=10ms",
	}
	out, _ := mustRun(t, sluice(t, path, env, "enqueue", "-timeout", "2s", "-max-attempts", "2", "sleeper"))
	id, _ := strconv.ParseInt(strings.TrimSpace(out), 10, 64)

	drainUntil(t, s, path, env, time.Minute)
	task, _ := s.Get(context.Background(), id)
	if task.State != queue.Failed || task.Attempt != 2 || task.Error != "timeout after 2s" {
		t.Fatalf("task = %s attempt %d error %q", task.State, task.Attempt, task.Error)
	}
	for _, h := range task.History {
		if h.Outcome != "timeout" || h.Duration > 10*time.Second {
			t.Errorf("attempt %+v; want a timeout", h)
		}
	}
	for attempt := 1; attempt <= 2; attempt++ {
		if left := liveInGroup(readPID(t, filepath.Join(dir, fmt.Sprintf("pid.%d", attempt)))); len(left) > 0 {
			t.Errorf("attempt %d left processes behind: %v", attempt, left)
		}
	}
}

func TestExecPayloadWithShellMetacharacters(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sluice.db")
	s := openStore(t, path)
	marker := filepath.Join(dir, "pwned")
	payload := fmt.Sprintf(`{"name":"$(touch %[1]s); touch %[1]s && rm -rf %[2]s | tee %[1]s > %[1]s `+"`touch %[1]s`"+` 'x' \" \\ * ~ ?"}`, marker, dir)
	env := []string{`SLUICE_EXEC_SAFE=["cat"]`}
	cmd := sluice(t, path, env, "enqueue", "safe", "-")
	cmd.Stdin = strings.NewReader(payload)
	out, _ := mustRun(t, cmd)
	id, _ := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	mustRun(t, sluice(t, path, env, "drain"))
	task, _ := s.Get(context.Background(), id)
	if task.State != queue.Succeeded || string(task.Result) != payload {
		t.Fatalf("task %s result %q; want the payload byte for byte", task.State, task.Result)
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Error("the payload was run by a shell")
	}
}

// TestHandlerIgnoringContext: a Go handler that never returns. In-process the
// slot is freed at the deadline and the drain finishes; under process
// isolation its child process is killed.
func TestHandlerIgnoringContext(t *testing.T) {
	for _, isolation := range []string{"inprocess", "process"} {
		t.Run(isolation, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "sluice.db")
			s := openStore(t, path)
			pidFile := filepath.Join(dir, "pid")
			id, _ := s.Enqueue(context.Background(), queue.EnqueueParams{Job: "ignore", Timeout: time.Second, MaxAttempts: 1})
			next, _ := s.Enqueue(context.Background(), queue.EnqueueParams{Job: "echo_test"})
			env := []string{"SLUICE_WORKERS=1", "SLUICE_ISOLATION=" + isolation, "SLUICE_KILL_GRACE=200ms", "PID_FILE=" + pidFile}
			out, _ := mustRun(t, sluice(t, path, env, "drain"))
			if !strings.Contains(out, "1 succeeded, 1 failed") {
				t.Errorf("summary: %s", out)
			}
			task, _ := s.Get(context.Background(), id)
			if task.State != queue.Failed || task.Error != "timeout after 1s" {
				t.Errorf("task = %s %q", task.State, task.Error)
			}
			if task, _ := s.Get(context.Background(), next); task.State != queue.Succeeded {
				t.Errorf("the next task did not run")
			}
			if isolation == "process" {
				// Every process of the drain carries PID_FILE: none may be left. The
				// handler's own pid is checked too when it got as far as writing it
				// (on a loaded machine the deadline can come before it starts).
				proctest.WaitMarked(t, "PID_FILE="+pidFile, 0, time.Now().Add(5*time.Second))
				if b, err := os.ReadFile(pidFile); err == nil {
					pid, _ := strconv.Atoi(string(b))
					if pid == os.Getpid() {
						t.Fatal("the handler ran in the test process")
					}
					if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
						t.Errorf("handler process %d still exists (kill: %v)", pid, err)
					}
				} else {
					t.Logf("the handler was stopped before it wrote its pid: %v", err)
				}
			}
		})
	}
}

func TestSigtermStopsGracefully(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sluice.db")
	s := openStore(t, path)
	ctx := context.Background()
	ids := enqueueN(t, s, 3, "hang", func(int) string { return "{}" })
	started := filepath.Join(t.TempDir(), "started")
	cmd := sluice(t, path, []string{"HANG=1", "STARTED_FILE=" + started, "SLUICE_WORKERS=2", "SLUICE_SHUTDOWN_GRACE=300ms"}, "drain")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Two run; the third is claimed (prefetched) and waits for a free slot.
	waitFor(t, "two handlers started", 10*time.Second, func() bool {
		b, _ := os.ReadFile(started)
		return strings.Count(string(b), "\n") == 2
	})
	cmd.Process.Signal(syscall.SIGTERM)
	if err := waitExit(t, cmd, 10*time.Second); err != nil {
		t.Fatalf("drain after SIGTERM: %v\n%s", err, stderr.String())
	}
	for _, id := range ids {
		task, _ := s.Get(ctx, id)
		if task.State != queue.Queued || task.Attempt != 0 {
			t.Errorf("task %d: %s attempt %d; want queued with no attempt charged", id, task.State, task.Attempt)
		}
	}
	abandoned := 0
	for _, id := range ids {
		task, _ := s.Get(ctx, id)
		for _, h := range task.History {
			if h.Outcome == "abandoned" {
				abandoned++
			}
		}
	}
	if abandoned != 2 {
		t.Errorf("%d abandoned attempts noted in history; want 2", abandoned)
	}
	out, _ := mustRun(t, sluice(t, path, nil, "drain"))
	if !strings.Contains(out, "3 succeeded") {
		t.Errorf("drain after restart: %s", out)
	}
}

func TestSecondSigtermExitsAtOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sluice.db")
	s := openStore(t, path)
	ctx := context.Background()
	enqueueN(t, s, 2, "hang", func(int) string { return "{}" })
	env := append([]string{"HANG=1", "SLUICE_WORKERS=2", "SLUICE_SHUTDOWN_GRACE=1h",
		"SLUICE_TIMEOUT=2s", "SLUICE_RETRY=2500ms", "SLUICE_KILL_GRACE=0s"}, fastHeartbeat...)
	cmd := sluice(t, path, env, "drain")
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "two tasks running", 10*time.Second, func() bool {
		counts, _ := s.Counts(ctx)
		return counts[queue.Running] == 2
	})
	cmd.Process.Signal(syscall.SIGTERM)
	// Signals sent back to back can merge into one: wait until the first is handled.
	waitFor(t, "the graceful stop to begin", 10*time.Second, func() bool {
		return strings.Contains(stderr.String(), "stopping gracefully")
	})
	cmd.Process.Signal(syscall.SIGTERM)
	err := waitExit(t, cmd, 10*time.Second)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v; want status 1", err)
	}
	// Nothing is lost: other workers take the tasks back once its heartbeat is stale.
	drainUntil(t, s, path, nil, 30*time.Second)
	counts, _ := s.Counts(ctx)
	if counts[queue.Succeeded] != 2 {
		t.Errorf("counts %v; want 2 succeeded", counts)
	}
}

// waitExit waits for cmd to exit, killing it and failing the test at the deadline.
func waitExit(t *testing.T, cmd *exec.Cmd, deadline time.Duration) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(deadline):
		cmd.Process.Kill()
		t.Fatalf("process did not exit within %s", deadline)
		return nil
	}
}

// syncBuffer is a strings.Builder safe for a writing process and a polling test.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestCancelRunningTask cancels a running command from another process: the
// draining process notices, kills it, and the task ends cancelled.
func TestCancelRunningTask(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sluice.db")
	s := openStore(t, path)
	env := []string{`SLUICE_EXEC_SLEEPY=["sh","-c","echo $$ > ` + dir + `/pid; exec sleep 1000"]`}
	out, _ := mustRun(t, sluice(t, path, env, "enqueue", "sleepy"))
	id := strings.TrimSpace(out)
	queued, _ := mustRun(t, sluice(t, path, env, "enqueue", "sleepy"))

	drain := sluice(t, path, append(env, "SLUICE_WORKERS=1"), "drain")
	if err := drain.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the command to start", 10*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(dir, "pid"))
		return err == nil
	})
	out, _ = mustRun(t, sluice(t, path, env, "cancel", id, strings.TrimSpace(queued)))
	if !strings.Contains(out, id+": cancelled; its worker stops it") {
		t.Errorf("cancel said: %s", out)
	}
	if err := waitExit(t, drain, 15*time.Second); err != nil {
		t.Fatalf("drain: %v", err)
	}
	n, _ := strconv.ParseInt(id, 10, 64)
	task, _ := s.Get(context.Background(), n)
	if task.State != queue.Cancelled || task.Error != queue.CancelledError {
		t.Errorf("task = %s %q", task.State, task.Error)
	}
	if left := liveInGroup(readPID(t, filepath.Join(dir, "pid"))); len(left) > 0 {
		t.Errorf("the cancelled command is still running: %v", left)
	}
	// Cancelling it again changes nothing and says so, as pausing a paused
	// schedule does.
	cmd := sluice(t, path, env, "cancel", id)
	msg, _ := cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() != 0 || !strings.Contains(string(msg), id+": already cancelled") {
		t.Errorf("second cancel: exit %d %s", cmd.ProcessState.ExitCode(), msg)
	}
}

// TestDiskFull puts the database on a tiny tmpfs, fills the disk, and
// drains: the drain reports the full disk and exits non-zero; once space is
// freed a new drain completes every task.
func TestDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("skipped: cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	path := filepath.Join(dir, "sluice.db")
	s := openStore(t, path)
	enqueueN(t, s, 500, "echo_test", func(i int) string { return fmt.Sprintf(`{"i":%d,"pad":"%0200d"}`, i, i) })
	s.DB().Write.Exec("PRAGMA wal_checkpoint(TRUNCATE)")

	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			break // the disk is full
		}
	}
	f.Close()

	cmd := sluice(t, path, []string{"SLUICE_TIMEOUT=1s", "SLUICE_RETRY=1500ms", "SLUICE_KILL_GRACE=0s"}, "drain")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("drain on a full disk succeeded:\n%s", out)
	}
	if !strings.Contains(string(out), "full") {
		t.Errorf("drain output does not say the disk is full:\n%s", out)
	}

	os.Remove(filler)
	drainUntil(t, s, path, []string{"SLUICE_TIMEOUT=1s", "SLUICE_RETRY=1500ms", "SLUICE_KILL_GRACE=0s"}, time.Minute)
	if got := queryInt(t, s.DB().Read, "SELECT count(*) FROM tasks WHERE state = 'succeeded' AND result = payload"); got != 500 {
		t.Errorf("succeeded = %d; want 500", got)
	}
}

// TestUnwritableFolder remounts the database's filesystem read-only: a
// drain refuses with a message naming the folder, and the file is unchanged.
func TestUnwritableFolder(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("skipped: cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	path := filepath.Join(dir, "sluice.db")
	mustRun(t, sluice(t, path, nil, "enqueue", "echo_test", `{"keep":"me"}`))
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-o", "remount,ro", dir).CombinedOutput(); err != nil {
		t.Skipf("skipped: cannot remount read-only: %v %s", err, out)
	}
	cmd := sluice(t, path, nil, "drain")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("drain on a read-only folder: %v\n%s", err, out)
	}
	if want := "folder " + dir + " is not writable"; !strings.Contains(string(out), want) {
		t.Errorf("output does not say %q:\n%s", want, out)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("the database file changed")
	}
}

// TestPermanentErrorUnderIsolation: a Go handler's jobs.Permanent error
// fails its task at once in a child process too (exit 65), as in-process.
func TestPermanentErrorUnderIsolation(t *testing.T) {
	for _, isolation := range []string{"inprocess", "process"} {
		t.Run(isolation, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sluice.db")
			s := openStore(t, path)
			id, _ := s.Enqueue(context.Background(), queue.EnqueueParams{Job: "reject", MaxAttempts: 3})
			mustRun(t, sluice(t, path, []string{"SLUICE_ISOLATION=" + isolation}, "drain"))
			task, _ := s.Get(context.Background(), id)
			if task.State != queue.Failed || task.Attempt != 1 || !strings.Contains(task.Error, "rejected: this payload can never work") {
				t.Errorf("task = %s attempt %d error %q; want failed after one attempt", task.State, task.Attempt, task.Error)
			}
		})
	}
}
