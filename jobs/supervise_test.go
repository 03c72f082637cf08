package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/proctest"
	"github.com/sluicehq/sluice/jobs"
	"github.com/sluicehq/sluice/supervisor"
)

// TestMain lets this test binary be the supervisor of the exec jobs it runs.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == supervisor.Command {
		os.Exit(supervisor.Main(os.Args[2:], os.Stderr))
	}
	beWarmWorker()
	os.Exit(m.Run())
}

// escapeScript starts a process that leaves the command's tree the way
// Chromium's crash handler does (a double fork, setsid, SIGTERM ignored),
// waits until it runs (it creates started), then runs rest.
func escapeScript(started, rest string) []string {
	return []string{"sh", "-c", `(setsid sh -c "trap '' TERM; touch ` + started + `; exec sleep 1000" &); ` +
		`while [ ! -e ` + started + ` ]; do sleep 0.01; done; ` + rest}
}

// TestSupervisedCommandLeavesNothing runs the escaping helper under a
// supervisor and checks that no process with its marker is alive once the
// attempt is over, whether it timed out, was cancelled or succeeded.
func TestSupervisedCommandLeavesNothing(t *testing.T) {
	const timeout, grace = time.Second, 300 * time.Millisecond
	tests := []struct {
		name    string
		rest    string
		cancel  bool
		wantErr error
	}{
		{"timeout", "trap '' TERM; sleep 1000", false, context.DeadlineExceeded},
		{"cancel", "sleep 1000", true, context.Canceled},
		{"success that left it running", "echo ok", false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			marker := fmt.Sprintf("PROCTEST_MARKER=%s-%d", t.Name(), time.Now().UnixNano())
			started := filepath.Join(t.TempDir(), "started")
			cmd := jobs.Command{Argv: escapeScript(started, tt.rest), KillGrace: grace, Env: append(os.Environ(), marker),
				Supervisor: &supervisor.Opts{Self: os.Args[0]}}
			timeoutAt := time.Now().Add(timeout)
			if tt.wantErr != context.DeadlineExceeded {
				timeoutAt = time.Now().Add(time.Minute) // a slow start (-race, load) must not time it out
			}
			ctx, cancel := context.WithDeadline(context.Background(), timeoutAt)
			defer cancel()
			var usage jobs.Usage
			ctx = jobs.WithUsage(ctx, &usage)
			if tt.cancel {
				go func() {
					defer cancel()
					for _, err := os.Stat(started); err != nil && ctx.Err() == nil; _, err = os.Stat(started) {
						time.Sleep(10 * time.Millisecond) // a poll interval
					}
				}()
			}
			_, err := jobs.Exec("x", cmd).Func(ctx, []byte("{}"))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v; want %v", err, tt.wantErr)
			}
			deadline := timeoutAt.Add(grace + time.Second)
			if tt.wantErr != context.DeadlineExceeded {
				deadline = time.Now().Add(time.Second) // it returned after the cancel's kill grace
			}
			proctest.WaitMarked(t, marker, 0, deadline)
			if !usage.Measured || usage.Leftover < 1 || usage.PeakRSS <= 0 {
				t.Errorf("usage = %+v; want measured, at least 1 leftover, a peak RSS", usage)
			}
		})
	}
}

// TestSupervisedExitStatus checks that exit statuses, stderr and start
// failures come through the supervisor as they do without one.
func TestSupervisedExitStatus(t *testing.T) {
	sup := &supervisor.Opts{Self: os.Args[0]}
	for _, tt := range []struct {
		argv      []string
		want      string
		permanent bool
	}{
		{[]string{"sh", "-c", "echo 'bad cedula' >&2; exit 3"}, "exit status 3: bad cedula", false},
		{[]string{"sh", "-c", "exit 65"}, "exit status 65", true},
		{[]string{"sh", "-c", "kill -KILL $$"}, "signal: killed", false},
		{[]string{"/nonexistent/program"}, "start /nonexistent/program", true},
	} {
		_, err := jobs.Exec("x", jobs.Command{Argv: tt.argv, KillGrace: time.Second, Supervisor: sup}).Func(context.Background(), []byte("{}"))
		if err == nil || !strings.Contains(err.Error(), tt.want) || jobs.IsPermanent(err) != tt.permanent {
			t.Errorf("%q: err = %v (permanent %v); want %q (permanent %v)", tt.argv, err, jobs.IsPermanent(err), tt.want, tt.permanent)
		}
	}
	out, err := jobs.Exec("x", jobs.Command{Argv: []string{"cat"}, Supervisor: sup}).Func(context.Background(), []byte(`{"a":1}`))
	if err != nil || string(out) != `{"a":1}` {
		t.Errorf("cat = %q, %v", out, err)
	}
}
