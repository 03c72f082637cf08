package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/queue"
)

// Exit codes the units rely on (cli.ExitOK ... cli.ExitConfig); repeated here
// so a change in cli shows up as a failing deployment test.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
	exitConfig  = 78
)

// unitEnv is the environment the systemd units give sluice: the shipped env
// file, a database in dir, and extra overrides.
func unitEnv(t *testing.T, dir string, extra ...string) []string {
	t.Helper()
	env := []string{"PATH=" + os.Getenv("PATH"), "SLUICE_LOG_FORMAT=json"}
	env = append(env, parseEnvFile(t, filepath.Join(systemdDir, "sluice.env"))...)
	env = append(env, "SLUICE_DB="+filepath.Join(dir, "sluice.db"))
	return append(env, extra...)
}

// runSluice runs the built binary to completion and returns its exit code.
func runSluice(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	bin := sluiceBinary(t) // built first: the build's time is not the command's
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String()
	case errors.As(err, &ee) && ee.Exited():
		return ee.ExitCode(), out.String()
	}
	t.Fatalf("sluice %s: %v\n%s", strings.Join(args, " "), err, out.String())
	return -1, ""
}

// TestExitCodes runs the release binary as the units run it (the shipped
// environment file, JSON logs) and checks the codes Restart=on-failure,
// RestartPreventExitStatus=78 and the Job's podFailurePolicy depend on.
func TestExitCodes(t *testing.T) {
	cases := []struct {
		name  string
		extra []string
		args  []string
		want  int
	}{
		{"drain done", nil, []string{"drain"}, exitOK},
		{"misspelt variable", []string{"SLUICE_WORKRES=8"}, []string{"drain"}, exitConfig},
		{"lease not above timeout", []string{"SLUICE_TIMEOUT=300s"}, []string{"drain"}, exitConfig},
		{"bad flag", nil, []string{"drain", "-max-taks", "3"}, exitUsage},
		{"unknown command", nil, []string{"drian"}, exitUsage},
		{"database unreachable", []string{"SLUICE_DB=/dev/null/sluice.db"}, []string{"drain"}, exitFailure},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			env := unitEnv(t, dir, tc.extra...)
			if tc.want == exitOK {
				if code, out := runSluice(t, env, "enqueue", "echo_test", `{"hello":"world"}`); code != exitOK {
					t.Fatalf("enqueue: exit %d\n%s", code, out)
				}
			}
			code, out := runSluice(t, env, tc.args...)
			if code != tc.want {
				t.Errorf("sluice %s: exit %d, want %d\n%s", strings.Join(tc.args, " "), code, tc.want, out)
			}
			if tc.want == exitOK && !strings.Contains(out, "1 succeeded") {
				t.Errorf("drain did not run the task:\n%s", out)
			}
		})
	}
}

// openStore opens the queue at path for the test's own reads and writes.
func openStore(t *testing.T, path string) *queue.Store {
	t.Helper()
	s, err := queue.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// enqueueEcho adds n echo_test tasks.
func enqueueEcho(t *testing.T, s *queue.Store, n int) {
	t.Helper()
	ps := make([]queue.EnqueueParams, n)
	for i := range ps {
		ps[i] = queue.EnqueueParams{Job: "echo_test", Payload: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))}
	}
	if _, err := s.EnqueueMany(context.Background(), ps); err != nil {
		t.Fatal(err)
	}
}

// counts returns how many tasks are in each state.
func counts(t *testing.T, s *queue.Store) map[queue.State]int {
	t.Helper()
	c, err := s.Counts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// freeLoopbackAddr returns a loopback address with a port nothing listens on.
func freeLoopbackAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// stopWithSIGTERM starts sluice with args, waits until ready reports true,
// sends SIGTERM as systemd, Docker, Fly and Kubernetes do, and returns the exit code.
func stopWithSIGTERM(t *testing.T, env []string, ready func() bool, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(sluiceBinary(t), args...)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	deadline := time.Now().Add(30 * time.Second)
	for !ready() {
		select {
		case err := <-done:
			t.Fatalf("sluice %s exited before it was ready: %v\n%s", strings.Join(args, " "), err, out.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-done
			t.Fatalf("sluice %s not ready after 30s\n%s", strings.Join(args, " "), out.String())
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return cmd.ProcessState.ExitCode(), out.String()
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("sluice %s still running a minute after SIGTERM\n%s", strings.Join(args, " "), out.String())
	}
	return -1, ""
}

// TestSIGTERM stops a drain in the middle of a large batch, as a unit stop
// would: Sluice must record everything, leave nothing running, and exit 0.
func TestSIGTERM(t *testing.T) {
	t.Run("drain", func(t *testing.T) {
		dir := t.TempDir()
		store := openStore(t, filepath.Join(dir, "sluice.db"))
		n := 20000
		if testing.Short() || raceEnabled {
			n = 2000
		}
		enqueueEcho(t, store, n)
		code, out := stopWithSIGTERM(t, unitEnv(t, dir), func() bool { return counts(t, store)[queue.Succeeded] > 0 }, "drain")
		if code != exitOK {
			t.Errorf("drain after SIGTERM: exit %d, want 0\n%s", code, out)
		}
		c := counts(t, store)
		if c[queue.Running] != 0 || c[queue.Queued]+c[queue.Succeeded] != n {
			t.Errorf("after SIGTERM: %v; want nothing running and every task queued or succeeded", c)
		}
		t.Logf("stopped with %d of %d tasks done", c[queue.Succeeded], n)
	})

	// A command still running at SIGTERM finishes within SLUICE_SHUTDOWN_GRACE
	// (150s in the shipped env) and is recorded as succeeded; then exit 0.
	t.Run("drain waits for a running command", func(t *testing.T) {
		sleep, err := exec.LookPath("sleep")
		if err != nil {
			t.Skip("no sleep program to run as a slow exec job")
		}
		dir := t.TempDir()
		store := openStore(t, filepath.Join(dir, "sluice.db"))
		env := unitEnv(t, dir, `SLUICE_EXEC_NAP=["`+sleep+`","1"]`)
		if code, out := runSluice(t, env, "enqueue", "nap"); code != exitOK {
			t.Fatalf("enqueue: exit %d\n%s", code, out)
		}
		code, out := stopWithSIGTERM(t, env, func() bool { return counts(t, store)[queue.Running] == 1 }, "drain")
		if code != exitOK {
			t.Errorf("drain after SIGTERM: exit %d, want 0\n%s", code, out)
		}
		if c := counts(t, store); c[queue.Succeeded] != 1 {
			t.Errorf("after SIGTERM: %v; want the running command to finish and succeed\n%s", c, out)
		}
	})

	// As the Deployment and the Fly Machine run it: with /healthz served.
	t.Run("run", func(t *testing.T) {
		dir := t.TempDir()
		store := openStore(t, filepath.Join(dir, "sluice.db"))
		enqueueEcho(t, store, 10)
		addr := freeLoopbackAddr(t)
		healthy := func() bool {
			resp, err := http.Get("http://" + addr + "/healthz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		}
		code, out := stopWithSIGTERM(t, unitEnv(t, dir, "SLUICE_HTTP_ADDR="+addr),
			func() bool { return counts(t, store)[queue.Succeeded] == 10 && healthy() }, "run")
		if code != exitOK {
			t.Errorf("run after SIGTERM: exit %d, want 0\n%s", code, out)
		}
		if healthy() {
			t.Errorf("/healthz on %s still answers after run exited", addr)
		}
		if c := counts(t, store); c[queue.Running] != 0 {
			t.Errorf("after SIGTERM: %v; want nothing running", c)
		}
	})
}
