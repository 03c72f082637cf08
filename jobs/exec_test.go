package jobs_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/jobs"
)

func runExec(t *testing.T, argv []string, payload string, timeout time.Duration) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ctx = jobs.WithInfo(ctx, jobs.Info{TaskID: 42, Job: "x", Attempt: 2, Deadline: time.Unix(1700000000, 0)})
	j := jobs.Exec("x", jobs.Command{Argv: argv, KillGrace: 200 * time.Millisecond})
	if !j.Isolated {
		t.Fatal("exec jobs must be isolated")
	}
	return j.Func(ctx, []byte(payload))
}

func TestExecPayloadReachesStdinUntouched(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "pwned")
	payload := `{"x":"$(touch ` + marker + `); touch ` + marker + ` && echo hi | cat > ` + marker + ` ` + "`touch " + marker + "`" + ` 'q' \"dq\" \\ *"}`
	out, err := runExec(t, []string{"cat"}, payload, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != payload {
		t.Errorf("stdin arrived as %q; want %q", out, payload)
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Error("a shell ran the payload")
	}
}

func TestExecTaskEnvironment(t *testing.T) {
	out, err := runExec(t, []string{"sh", "-c", `printf '%s %s %s %s' "$SLUICE_TASK_ID" "$SLUICE_TASK_JOB" "$SLUICE_TASK_ATTEMPT" "$SLUICE_TASK_DEADLINE"`}, "{}", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if want := "42 x 2 2023-11-14T22:13:20Z"; string(out) != want {
		t.Errorf("env = %q; want %q", out, want)
	}
}

func TestExecScheduledFor(t *testing.T) {
	argv := []string{"sh", "-c", `printf '%s|%s|%s' "${SLUICE_TASK_SCHEDULED_FOR-unset}" "${SLUICE_TASK_SCHEDULE_ID-unset}" "$SLUICE_TASK_ID"`}
	j := jobs.Exec("x", jobs.Command{Argv: argv, KillGrace: 200 * time.Millisecond})
	due := time.Date(2026, 3, 8, 7, 30, 0, 0, time.FixedZone("EST", -5*3600))
	for _, tc := range []struct {
		name string
		info jobs.Info
		want string
	}{
		{"scheduled", jobs.Info{TaskID: 7, ScheduleID: 3, ScheduledFor: due}, "2026-03-08T12:30:00Z|3|7"},
		{"not scheduled", jobs.Info{TaskID: 8}, "unset|unset|8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := j.Func(jobs.WithInfo(context.Background(), tc.info), []byte("{}"))
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tc.want {
				t.Errorf("env = %q; want %q", out, tc.want)
			}
		})
	}
}

func TestExecFailures(t *testing.T) {
	tests := []struct {
		name      string
		argv      []string
		want      string
		permanent bool
	}{
		{"exit status and stderr tail", []string{"sh", "-c", "echo starting; echo 'bad cedula' >&2; exit 3"}, "exit status 3: bad cedula", false},
		{"permanent exit", []string{"sh", "-c", "echo 'not a cedula' >&2; exit 65"}, "exit status 65: not a cedula", true},
		{"missing program", []string{"/nonexistent/program"}, "start /nonexistent/program", true},
		{"result too large", []string{"head", "-c", "2000000", "/dev/zero"}, "more than 1048576 bytes", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runExec(t, tt.argv, "{}", 10*time.Second)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v; want it to contain %q", err, tt.want)
			}
			if jobs.IsPermanent(err) != tt.permanent {
				t.Errorf("permanent = %v; want %v", jobs.IsPermanent(err), tt.permanent)
			}
		})
	}
}

// TestExecTimeoutKillsWholeGroup runs a command that starts a grandchild and
// ignores SIGTERM (as does the grandchild, which inherits the ignored
// signal): at the deadline both are killed, and nothing of the group is left.
func TestExecTimeoutKillsWholeGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	script := `trap '' TERM; echo $$ > ` + pidFile + `; sleep 1000 & sleep 1000; wait`
	_, err := runExec(t, []string{"sh", "-c", script}, "{}", 300*time.Millisecond)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v; want the deadline", err)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pgid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	waitGroupGone(t, pgid)
}

// waitGroupGone polls /proc until no live process is in process group pgid.
func waitGroupGone(t *testing.T, pgid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := liveInGroup(pgid)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes of group %d still alive: %v", pgid, left)
		}
		time.Sleep(10 * time.Millisecond)
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
		// Fields after the command name, which is in parentheses: state, ppid, pgrp, ...
		s := string(stat)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 2 && f[0] != "Z" && f[2] == strconv.Itoa(pgid) {
			pids = append(pids, pid)
		}
	}
	return pids
}
