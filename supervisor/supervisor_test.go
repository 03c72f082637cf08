//go:build linux

package supervisor_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/proctest"
	"github.com/sluicehq/sluice/supervisor"
)

// TestMain lets this test binary be the supervisor.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == supervisor.Command {
		os.Exit(supervisor.Main(os.Args[2:], os.Stderr))
	}
	os.Exit(m.Run())
}

// escape leaves a process behind as Chromium's crash handler does: a
// double fork, setsid, SIGTERM ignored.
const escape = `(setsid sh -c "trap '' TERM; exec sleep 1000" &); `

// start runs sh -c script under a supervisor with a unique marker.
func start(t *testing.T, o supervisor.Opts, script string) (*supervisor.Process, string) {
	t.Helper()
	marker := fmt.Sprintf("PROCTEST_MARKER=%s-%d", t.Name(), time.Now().UnixNano())
	o.Self = os.Args[0]
	argv := o.Argv([]string{"sh", "-c", script})
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), marker)
	p, err := supervisor.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	return p, marker
}

func TestReport(t *testing.T) {
	t.Run("exit with leftovers", func(t *testing.T) {
		p, marker := start(t, supervisor.Opts{KillGrace: time.Second}, escape+"sleep 1000 & exit 3")
		r, err := p.Wait()
		if err != nil {
			t.Fatal(err)
		}
		// The escapee and the background sleep at least (the escapee's
		// subshell may not have exited yet).
		if r.Exit != 3 || r.Leftover < 2 || r.PeakRSS <= 0 || r.Err().Error() != "exit status 3" {
			t.Errorf("report %+v (%v); want exit 3, 2 leftovers or more, a peak RSS", r, r.Err())
		}
		if left := proctest.Marked(marker); len(left) > 0 {
			t.Errorf("still alive after the report: %v", proctest.Describe(left))
		}
	})
	t.Run("stopped", func(t *testing.T) {
		p, marker := start(t, supervisor.Opts{KillGrace: 200 * time.Millisecond}, escape+"trap '' TERM; sleep 1000")
		waitSleeping(t, marker, 2) // the command's sleep and the escapee
		p.Stop()
		r, err := p.Wait()
		if err != nil {
			t.Fatal(err)
		}
		// sh ignores SIGTERM and is killed at the grace; its sleep and the escapee are leftovers.
		if r.Signal != int(syscall.SIGKILL) || r.Err().Error() != "signal: killed" || r.Leftover < 2 {
			t.Errorf("report %+v (%v); want killed, 2 leftovers or more", r, r.Err())
		}
		if left := proctest.Marked(marker); len(left) > 0 {
			t.Errorf("still alive after the report: %v", proctest.Describe(left))
		}
	})
	t.Run("killed at the backstop", func(t *testing.T) {
		// A supervisor that has not finished (here: a grace of an hour) is
		// killed with its whole tree.
		p, marker := start(t, supervisor.Opts{KillGrace: time.Hour}, escape+"trap '' TERM; sleep 1000")
		waitSleeping(t, marker, 2)
		p.Stop()
		p.Kill()
		p.Wait() // it may still report, having seen its command die first
		proctest.WaitMarked(t, marker, 0, time.Now().Add(time.Second))
	})
	t.Run("not startable", func(t *testing.T) {
		argv := supervisor.Opts{Self: os.Args[0]}.Argv([]string{"/nonexistent/program"})
		p, err := supervisor.Start(exec.Command(argv[0], argv[1:]...))
		if err != nil {
			t.Fatal(err)
		}
		r, err := p.Wait()
		if err != nil || !strings.Contains(r.StartErr, "/nonexistent/program") || r.Err() == nil {
			t.Errorf("report %+v, %v; want a start error", r, err)
		}
	})
}

// TestCgroup runs the escapee in a per-attempt cgroup (CLONE_INTO_CGROUP,
// cgroup.kill) under a writable cgroup v2 mount: the hierarchy at
// /sys/fs/cgroup, or the "unified" one of a hybrid set-up, which Detect does
// not use (it has no controllers) but which runs the same code.
func TestCgroup(t *testing.T) {
	mount := cgroup2Mount()
	if mount == "" || os.Geteuid() != 0 {
		t.Skip("skipped: no writable cgroup v2 mount here (needs root and cgroup2 in /proc/mounts); the per-attempt cgroup is untested on this machine")
	}
	parent := filepath.Join(mount, fmt.Sprintf("sluice-test-%d", os.Getpid()))
	if err := os.Mkdir(parent, 0o755); err != nil {
		t.Skipf("skipped: cannot create a cgroup under %s (%v); the per-attempt cgroup is untested on this machine", mount, err)
	}
	defer os.Remove(parent)
	out := new(strings.Builder)
	o := supervisor.Opts{Self: os.Args[0], KillGrace: time.Second, Cgroup: parent}
	argv := o.Argv([]string{"sh", "-c", escape + "cat /proc/self/cgroup"})
	cmd := exec.Command(argv[0], argv[1:]...)
	marker := fmt.Sprintf("PROCTEST_MARKER=cgroup-%d", time.Now().UnixNano())
	cmd.Env, cmd.Stdout = append(os.Environ(), marker), out
	p, err := supervisor.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	r, err := p.Wait()
	if err != nil || r.Exit != 0 || r.Leftover < 1 {
		t.Fatalf("report %+v, %v; want exit 0 and the escapee left over", r, err)
	}
	if !strings.Contains(out.String(), "/sluice-test-") || !strings.Contains(out.String(), "/sluice-attempt-") {
		t.Errorf("the command ran in %q; want the attempt's cgroup", out.String())
	}
	if left := proctest.Marked(marker); len(left) > 0 {
		t.Errorf("still alive after the report: %v", proctest.Describe(left))
	}
	if m, _ := filepath.Glob(filepath.Join(parent, "sluice-attempt-*")); len(m) > 0 {
		t.Errorf("attempt cgroups left: %v", m)
	}
}

// TestDetect reports what this machine offers; with limits and no cgroup v2
// it must not pretend.
func TestDetect(t *testing.T) {
	c, err := supervisor.Detect(false)
	if err != nil {
		t.Fatal(err)
	}
	if c.Cgroup == "" {
		t.Skipf("skipped: Detect finds no usable cgroup v2 here (%s); the limits path is untested on this machine", c.Why)
	}
	if _, err := os.Stat(filepath.Join(c.Cgroup, "cgroup.procs")); err != nil {
		t.Errorf("Detect chose %s, which is not a cgroup: %v", c.Cgroup, err)
	}
}

// waitSleeping waits until n processes carrying marker run sleep.
func waitSleeping(t *testing.T, marker string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		sleeping := 0
		for _, pid := range proctest.Marked(marker) {
			if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); string(b) == "sleep\n" {
				sleeping++
			}
		}
		if sleeping == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d processes of the test sleep; want %d", sleeping, n)
		}
		time.Sleep(10 * time.Millisecond) // a poll interval
	}
}

// cgroup2Mount returns where a cgroup v2 hierarchy is mounted, if anywhere.
func cgroup2Mount() string {
	b, _ := os.ReadFile("/proc/mounts")
	for line := range strings.Lines(string(b)) {
		if f := strings.Fields(line); len(f) > 2 && f[2] == "cgroup2" {
			return f[1]
		}
	}
	return ""
}
