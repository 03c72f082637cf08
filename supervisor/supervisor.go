// Package supervisor runs a command so that none of its processes outlive it.
//
// A supervisor is a small process between the worker and one attempt's
// command: the same binary, run as the hidden command Command (see Main). It
// makes itself a child subreaper (PR_SET_CHILD_SUBREAPER), so a descendant
// that leaves the command's process group (setsid, a double fork, as
// Chromium's crash handler and the browser drivers do) is reparented to it
// instead of to init. When the command exits, or the attempt is stopped, or
// the worker dies, it kills every process left in its tree, reaps them all,
// and reports the exit status, how many processes it had to kill and the
// peak memory of the tree. Where a writable cgroup v2 subtree exists it also
// puts the command in a cgroup of its own and ends it with cgroup.kill.
package supervisor

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

// Command is the hidden subcommand that runs Main; a binary that runs
// supervised commands must dispatch it (cli.Main does).
const Command = "_supervise"

// StopMargin is how long after the kill grace a stopped supervisor may take
// to kill and reap its tree and report, before the worker kills it outright.
const StopMargin = 2 * time.Second

// Opts says how to supervise a command.
type Opts struct {
	// Self is the program that dispatches Command: usually os.Executable().
	Self string
	// KillGrace is the time between SIGTERM to the whole tree and SIGKILL
	// when the attempt is stopped (timeout, cancel, shutdown, worker death).
	KillGrace time.Duration
	// Cgroup is a cgroup v2 directory under which each attempt gets a cgroup
	// of its own; empty means none (the subreaper alone contains the tree).
	Cgroup string
	// MemoryMax and PidsMax limit each attempt's cgroup (memory.max in
	// bytes, pids.max); 0 means no limit. They need Cgroup.
	MemoryMax int64
	PidsMax   int64
}

// Argv returns the command line that runs argv under a supervisor.
func (o Opts) Argv(argv []string) []string {
	out := []string{o.Self, Command, "-grace", o.KillGrace.String()}
	if o.Cgroup != "" {
		out = append(out, "-cgroup", o.Cgroup)
	}
	if o.MemoryMax > 0 {
		out = append(out, "-memory-max", strconv.FormatInt(o.MemoryMax, 10))
	}
	if o.PidsMax > 0 {
		out = append(out, "-pids-max", strconv.FormatInt(o.PidsMax, 10))
	}
	return append(append(out, "--"), argv...)
}

// Report is what a supervisor says about its attempt, as one JSON line on
// file descriptor 3 just before it exits.
type Report struct {
	// Exit is the command's exit status, or -1 when a signal ended it.
	Exit int `json:"exit"`
	// Signal is the signal that ended the command; 0 if it exited.
	Signal int `json:"signal,omitempty"`
	// Leftover counts the processes of the tree still alive once the
	// command had exited (or been killed), which the supervisor killed.
	Leftover int `json:"leftover"`
	// PeakRSS is the largest resident set, in bytes, of any process of the
	// tree (getrusage of the reaped children).
	PeakRSS int64 `json:"peak_rss"`
	// OOM reports that the kernel killed a process of the attempt's cgroup
	// for going over memory.max.
	OOM bool `json:"oom,omitempty"`
	// StartErr says why the command could not be started (or supervised).
	StartErr string `json:"start_err,omitempty"`
}

// Err describes how the command ended as os/exec does ("exit status 3",
// "signal: killed"); nil for exit status 0.
func (r Report) Err() error {
	switch {
	case r.StartErr != "":
		return errors.New(r.StartErr)
	case r.Signal != 0:
		return fmt.Errorf("signal: %v", syscall.Signal(r.Signal))
	case r.Exit != 0:
		return fmt.Errorf("exit status %d", r.Exit)
	}
	return nil
}

// Process is a running supervisor, started by Start.
type Process struct {
	cmd    *exec.Cmd
	done   chan struct{}
	err    error
	report Report
}

// Start starts cmd, whose command line must come from Opts.Argv, with a
// pipe for the report on descriptor 3. The supervisor gets SIGTERM when the
// worker dies (Pdeathsig), and then kills its tree within the kill grace.
// Pdeathsig fires when the thread that started the child exits, not the
// process, so cmd is started and waited for on a goroutine locked to its OS
// thread for the child's whole life.
func Start(cmd *exec.Cmd) (*Process, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start supervisor: %w", err)
	}
	cmd.ExtraFiles = append(cmd.ExtraFiles, w) // descriptor 3
	cmd.SysProcAttr = sysProcAttr()
	p := &Process{cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		defer r.Close()
		err := cmd.Start()
		w.Close()
		started <- err
		if err != nil {
			return
		}
		p.err = p.wait(r)
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start supervisor: %w", err)
	}
	return p, nil
}

// wait waits for the supervisor and reads its report.
func (p *Process) wait(r *os.File) error {
	werr := p.cmd.Wait()
	b, _ := io.ReadAll(io.LimitReader(r, 1<<16))
	if err := json.Unmarshal(b, &p.report); err != nil {
		// No report: the supervisor was killed, or the binary does not
		// dispatch Command.
		return fmt.Errorf("supervisor sent no report (%v): %w", werr, errors.Join(werr, err))
	}
	return nil // the report says how the command ended; werr only echoes it
}

// Done is closed once the supervisor has exited and its report was read.
func (p *Process) Done() <-chan struct{} { return p.done }

// Stop asks the supervisor to end the attempt: SIGTERM to every process of
// the tree, SIGKILL to what is left after the kill grace.
func (p *Process) Stop() { p.cmd.Process.Signal(syscall.SIGTERM) }

// Kill is the last resort when the supervisor did not finish within the kill
// grace and StopMargin (a machine too loaded to schedule it, say): it kills
// every process below the supervisor, for as long as any is found, and then
// the supervisor itself. The supervisor is still their subreaper while this
// runs, so what escapes its command's group is found too.
func (p *Process) Kill() {
	killTree(p.cmd.Process.Pid)
	p.cmd.Process.Kill()
}

// Wait waits for the supervisor and returns its report. The error is about
// the supervisor, not the command (Report.Err tells how that ended).
func (p *Process) Wait() (Report, error) {
	<-p.done
	return p.report, p.err
}
