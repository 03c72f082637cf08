package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/proctest"
	"github.com/sluicehq/sluice/queue"
)

// escapeScript starts a process that leaves its parent's tree as Chromium's
// crash handler does: a double fork, setsid, SIGTERM ignored.
const escapeScript = `(setsid sh -c "trap '' TERM; exec sleep 1000" &)`

// TestNothingOutlivesTheWorker stops `sluice run` with SIGTERM or SIGKILL
// while an exec job, or a process-isolated Go handler, has left the
// escaping process running: within the kill grace (and the shutdown grace,
// for SIGTERM) plus a second, no process with the test's marker is alive.
func TestNothingOutlivesTheWorker(t *testing.T) {
	const grace = 300 * time.Millisecond
	for _, tc := range []struct {
		name     string
		sig      syscall.Signal
		isolated bool
	}{
		{"exec job, SIGTERM", syscall.SIGTERM, false},
		{"exec job, SIGKILL", syscall.SIGKILL, false},
		{"isolated handler, SIGTERM", syscall.SIGTERM, true},
		{"isolated handler, SIGKILL", syscall.SIGKILL, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sluice.db")
			s := openStore(t, path)
			marker := fmt.Sprintf("PROCTEST_MARKER=%d-%s", time.Now().UnixNano(), strings.ReplaceAll(tc.name, " ", ""))
			env := []string{marker, "SLUICE_KILL_GRACE=" + grace.String(), "SLUICE_SHUTDOWN_GRACE=" + grace.String(),
				`SLUICE_EXEC_SPAWN=["sh","-c","` + strings.ReplaceAll(escapeScript, `"`, `\"`) + `; exec sleep 999"]`}
			job := "spawn"
			if tc.isolated {
				job = "escape"
				env = append(env, "SLUICE_ISOLATION=process")
			}
			ids := enqueueN(t, s, 1, job, func(int) string { return "{}" })
			run := sluice(t, path, env, "run")
			var stderr syncBuffer
			run.Stderr = &stderr
			if err := run.Start(); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the escaped process", 10*time.Second, func() bool {
				for _, pid := range proctest.Marked(marker) {
					if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); string(b) == "sleep\x001000\x00" {
						return true
					}
				}
				return false
			})
			run.Process.Signal(tc.sig)
			waitExit(t, run, 10*time.Second)
			deadline := time.Now().Add(2*grace + time.Second)
			proctest.WaitMarked(t, marker, 0, deadline)
			if tc.sig == syscall.SIGKILL {
				return
			}
			task, err := s.Get(context.Background(), ids[0])
			if err != nil {
				t.Fatal(err)
			}
			if n := len(task.History); n != 1 || task.History[0].Leftover == nil || *task.History[0].Leftover < 1 || task.History[0].PeakRSS <= 0 {
				t.Errorf("history %+v; want one attempt with at least one leftover process and its peak memory\n%s", task.History, stderr.String())
			}
		})
	}
}

// TestPID1ReapsOrphans runs `sluice run` as PID 1 of a new PID namespace
// (unshare, as in a container without an init) over 20 tasks that each
// fork 200 children, and then SIGKILLs one task's supervisor, whose
// command is then reparented to PID 1: no zombie remains, and SIGTERM still
// stops the whole thing cleanly.
func TestPID1ReapsOrphans(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: a PID namespace needs root")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("skipped: unshare is not installed")
	}
	path := filepath.Join(t.TempDir(), "sluice.db")
	s := openStore(t, path)
	ctx := context.Background()
	enqueueN(t, s, 20, "forker", func(int) string { return "{}" })
	// 200 children each, which outlive their shell (sh does not wait for them):
	// the supervisor reaps them. ": &" forks without an exec, so the test
	// stays affordable on a loaded machine.
	env := []string{`SLUICE_EXEC_FORKER=["sh","-c","for i in $(seq 200); do : & done; exec sleep 0.1"]`,
		`SLUICE_EXEC_NAP=["sleep","1000"]`, "SLUICE_WORKERS=4", "SLUICE_POLL=50ms"}
	cmd := sluice(t, path, env, "run")
	// --kill-child: if the test fails and kills unshare, PID 1 and with it the namespace go too.
	cmd.Args = append([]string{"unshare", "-pf", "--mount-proc", "--kill-child", cmd.Path}, cmd.Args[1:]...)
	cmd.Path, _ = exec.LookPath("unshare")
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitFor(t, "20 forker tasks", 180*time.Second, func() bool {
		c, _ := s.Counts(ctx)
		return c[queue.Succeeded] == 20
	})
	if _, err := s.Enqueue(ctx, queue.EnqueueParams{Job: "nap"}); err != nil {
		t.Fatal(err)
	}
	var supervisorPID int
	waitFor(t, "the nap task's supervisor", 10*time.Second, func() bool {
		for pid := range proctest.Descendants(cmd.Process.Pid) {
			if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); strings.Contains(string(b), "_supervise") {
				supervisorPID = pid
				return true
			}
		}
		return false
	})
	syscall.Kill(supervisorPID, syscall.SIGKILL)
	waitFor(t, "no zombie in the namespace", 10*time.Second, func() bool {
		return zombies(cmd.Process.Pid) == 0 && proctest.State(supervisorPID) == 0
	})
	init := 0
	for pid := range proctest.Descendants(cmd.Process.Pid) {
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); strings.HasPrefix(string(b), os.Args[0]+"\x00run") {
			init++
		}
	}
	if init != 2 {
		t.Errorf("%d sluice run processes in the namespace; want 2 (the init and the worker)", init)
	}
	// The init forwards SIGTERM to the worker, which stops gracefully.
	pid1 := 0
	for pid := range proctest.Descendants(cmd.Process.Pid) {
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); strings.Contains(string(b), "\nNSpid:\t") &&
			strings.Contains(string(b), "\t1\n") {
			pid1 = pid
		}
	}
	if pid1 == 0 {
		t.Fatal("no PID 1 found in the namespace")
	}
	syscall.Kill(pid1, syscall.SIGTERM)
	if err := waitExit(t, cmd, 15*time.Second); err != nil {
		t.Errorf("after SIGTERM: %v\n%s", err, stderr.String())
	}
}

// zombies counts the exited, unreaped processes below root.
func zombies(root int) int {
	n := 0
	for _, state := range proctest.Descendants(root) {
		if state == 'Z' {
			n++
		}
	}
	return n
}
