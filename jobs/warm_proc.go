package jobs

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/supervisor"
)

// contained is a started warm process and the means to end it with
// everything it started: a supervisor (child subreaper) of its own, or
// its own process group where there is no supervisor.
type contained interface {
	pid() int              // the process whose tree is measured
	done() <-chan struct{} // closed once it is gone and reaped
	status() string        // how it ended; valid after done
	term()                 // SIGTERM to the whole tree
	kill()                 // SIGKILL to the whole tree, now
	margin() time.Duration // extra time after the kill grace before kill
}

// contain starts cmd, supervised or in a process group of its own.
func contain(cmd *exec.Cmd, supervise bool) (contained, error) {
	if supervise {
		p, err := supervisor.Start(cmd)
		if err != nil {
			return nil, err
		}
		return &supervised{p: p, cmd: cmd}, nil
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	g := &group{cmd: cmd, exited: make(chan struct{})}
	go func() {
		g.err = cmd.Wait()
		close(g.exited)
	}()
	return g, nil
}

// group is a process in a process group of its own.
type group struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
}

func (g *group) pid() int              { return g.cmd.Process.Pid }
func (g *group) done() <-chan struct{} { return g.exited }
func (g *group) term()                 { syscall.Kill(-g.pid(), syscall.SIGTERM) }
func (g *group) kill()                 { syscall.Kill(-g.pid(), syscall.SIGKILL) }
func (g *group) margin() time.Duration { return 0 }
func (g *group) status() string {
	if g.err != nil && !errors.Is(g.err, exec.ErrWaitDelay) {
		return g.err.Error()
	}
	return g.cmd.ProcessState.String()
}

// supervised is a process under a supervisor; pid is the supervisor's.
type supervised struct {
	p   *supervisor.Process
	cmd *exec.Cmd
}

func (s *supervised) pid() int              { return s.cmd.Process.Pid }
func (s *supervised) done() <-chan struct{} { return s.p.Done() }
func (s *supervised) term()                 { s.p.Stop() }
func (s *supervised) margin() time.Duration { return supervisor.StopMargin }

func (s *supervised) kill() {
	select {
	case <-s.p.Done(): // the supervisor killed what was left; its pid may be reused
	default:
		s.p.Kill()
	}
}

func (s *supervised) status() string {
	r, err := s.p.Wait()
	if err != nil {
		return err.Error()
	}
	if e := r.Err(); e != nil {
		return e.Error()
	}
	return "exit status 0"
}

// treeRSS returns the resident memory of a process and its descendants in
// bytes (Linux /proc), or 0 when it cannot be read.
func treeRSS(pid int) int64 {
	var total int64
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			total += kb << 10
		}
	}
	tasks, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	for _, t := range tasks {
		kids, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + t.Name() + "/children")
		for _, k := range strings.Fields(string(kids)) {
			if child, err := strconv.Atoi(k); err == nil {
				total += treeRSS(child)
			}
		}
	}
	return total
}
