//go:build linux

package supervisor

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Supported reports whether this system can supervise commands.
const Supported = true

// Main is the supervisor process, run as
//
//	<self> _supervise [-grace D] [-cgroup DIR] [-memory-max N] [-pids-max N] -- PROGRAM ARGS...
//
// It runs the program with its own stdin, stdout, stderr and environment,
// writes a Report on descriptor 3 and returns the program's exit status
// (128+n when signal n ended it, 127 when it could not start).
func Main(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet(Command, flag.ContinueOnError)
	fs.SetOutput(stderr)
	grace := fs.Duration("grace", 5*time.Second, "time between SIGTERM and SIGKILL when stopped")
	cgroupDir := fs.String("cgroup", "", "cgroup v2 directory to create the attempt's cgroup in")
	memMax := fs.Int64("memory-max", 0, "memory.max of the attempt's cgroup, in bytes")
	pidsMax := fs.Int64("pids-max", 0, "pids.max of the attempt's cgroup")
	if err := fs.Parse(args); err != nil || fs.NArg() == 0 {
		fmt.Fprintln(stderr, "usage: sluice _supervise [flags] -- PROGRAM [ARGS...] (run by the worker, not by people)")
		return 2
	}
	// The report descriptor is for this process alone, not the program.
	syscall.CloseOnExec(3)
	report := os.NewFile(3, "report")

	s := &supervision{self: os.Getpid(), grace: *grace, left: map[int]bool{}}
	r := s.run(fs.Args(), *cgroupDir, *memMax, *pidsMax)
	json.NewEncoder(report).Encode(r) // nobody to tell if the worker is gone
	switch {
	case r.StartErr != "":
		fmt.Fprintln(stderr, r.StartErr)
		return 127
	case r.Signal != 0:
		return 128 + r.Signal
	}
	return r.Exit
}

// supervision is one supervised run of a program.
type supervision struct {
	self   int           // this process
	grace  time.Duration // between SIGTERM and SIGKILL when stopped
	main   int           // the program's process
	cgroup *cgroup       // the attempt's cgroup; nil without one
	left   map[int]bool  // processes killed after the program ended
}

func (s *supervision) run(argv []string, cgroupDir string, memMax, pidsMax int64) Report {
	// The program's Pdeathsig follows the thread that started it.
	runtime.LockOSThread()
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return Report{Exit: -1, StartErr: fmt.Sprintf("become a child subreaper: %v", err)}
	}
	// SIGTERM is both "stop the attempt" from the worker and its Pdeathsig.
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	// A write to the dead worker's pipes must fail, not kill this process
	// before it has cleared the tree (a notified SIGPIPE stays default for
	// the program, unlike an ignored one).
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	if cgroupDir != "" {
		cg, err := newCgroup(cgroupDir, s.self, memMax, pidsMax)
		if err != nil {
			return Report{Exit: -1, StartErr: err.Error()}
		}
		s.cgroup = cg
		defer cg.remove()
	}
	if err := s.start(argv); err != nil {
		return Report{Exit: -1, StartErr: err.Error()}
	}
	exits := reap()
	status, ok := s.wait(exits, stop)
	s.clear(exits)

	r := Report{Exit: -1, Leftover: len(s.left)}
	switch {
	case !ok:
	case status.Signaled():
		r.Signal = int(status.Signal())
	default:
		r.Exit = status.ExitStatus()
	}
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_CHILDREN, &ru) == nil {
		r.PeakRSS = ru.Maxrss * 1024 // kilobytes on Linux
	}
	if s.cgroup != nil {
		r.OOM = s.cgroup.oomKilled()
	}
	return r
}

// start starts the program in a process group of its own, with this
// process's standard files and environment. It uses no exec.Cmd: this
// process reaps every child with wait4(-1), which would steal the status an
// exec.Cmd waits for.
func (s *supervision) start(argv []string) error {
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return err
	}
	attr := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if s.cgroup != nil {
		attr.UseCgroupFD, attr.CgroupFD = true, s.cgroup.fd
	}
	s.main, err = syscall.ForkExec(path, argv, &syscall.ProcAttr{
		Env: os.Environ(), Files: []uintptr{0, 1, 2}, Sys: attr,
	})
	return err
}

// wait returns the program's status once it has exited. A stop signal sends
// SIGTERM to the whole tree; what is alive a kill grace later gets SIGKILL.
// ok is false if the status was lost (the program was never reaped here).
func (s *supervision) wait(exits <-chan exit, stop <-chan os.Signal) (status syscall.WaitStatus, ok bool) {
	var graceOver <-chan time.Time
	stopping := false
	for {
		select {
		case e, open := <-exits:
			if !open {
				return 0, false
			}
			if e.pid == s.main {
				return e.status, true
			}
		case <-stop:
			if !stopping {
				stopping = true
				for _, pid := range descendants(s.self) {
					syscall.Kill(pid, syscall.SIGTERM)
				}
				graceOver = time.After(s.grace)
			}
		case <-graceOver:
			graceOver = nil
			s.killLeftovers()
			syscall.Kill(-s.main, syscall.SIGKILL)
			syscall.Kill(s.main, syscall.SIGKILL)
		}
	}
}

// killLeftovers kills every live process of the tree but the program
// itself, counting them, and reports whether there was any.
func (s *supervision) killLeftovers() bool {
	pids := descendants(s.self) // before cgroup.kill, to count them
	if s.cgroup != nil {
		s.cgroup.kill()
	}
	for _, pid := range pids {
		if pid != s.main {
			s.left[pid] = true
		}
		syscall.Kill(pid, syscall.SIGKILL)
	}
	return len(pids) > 0
}

// clear runs once the program has exited: it kills whatever is left of the
// tree until nothing is (a process may fork while it is being killed; its
// children then come to this subreaper), and reaps every child.
func (s *supervision) clear(exits <-chan exit) {
	for s.killLeftovers() {
		select {
		case _, open := <-exits:
			if !open {
				return
			}
		case <-time.After(10 * time.Millisecond): // a killed process may take a moment to die
		}
	}
	for range exits { // until wait4 says no child is left
	}
}
