package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/supervisor"
)

// Limits on what an exec job's output may cost.
const (
	// MaxResult caps a task's result: a command's stdout, or what a Go
	// handler returns (a larger one fails the task, not to be retried).
	MaxResult = 1 << 20
	// stderrTail is how much of the end of stderr a failure's error keeps.
	stderrTail = 2048
)

// ExitPermanent is the exit status (EX_DATAERR) with which a command says
// its task cannot succeed however often it is retried (a bad payload, say):
// the task fails at once.
const ExitPermanent = 65

// Environment variables a command receives about its task.
const (
	EnvTaskID   = "SLUICE_TASK_ID"
	EnvJob      = "SLUICE_TASK_JOB"
	EnvAttempt  = "SLUICE_TASK_ATTEMPT"
	EnvDeadline = "SLUICE_TASK_DEADLINE" // RFC 3339 with nanoseconds
	// EnvScheduledFor is the due time of a task a schedule enqueued (RFC 3339,
	// UTC); it is set only for such tasks.
	EnvScheduledFor = "SLUICE_TASK_SCHEDULED_FOR"
	// EnvScheduleID is the id of the schedule that enqueued the task; set only
	// for such tasks.
	EnvScheduleID = "SLUICE_TASK_SCHEDULE_ID"
)

// Command describes a job that runs a program.
type Command struct {
	// Argv is the program and its arguments, run directly (never through a
	// shell). Nothing from the task can add to it: the payload arrives only
	// on standard input.
	Argv []string
	// KillGrace is the time between SIGTERM and SIGKILL when the task's
	// context ends (timeout, cancel or shutdown).
	KillGrace time.Duration
	// Env is the environment; nil means the worker's own.
	Env []string
	// Supervisor, when set, runs the program under a supervisor (see package
	// supervisor; cli sets it for every exec job on Linux): every process the
	// program starts, even one that leaves its process group, dies with the
	// attempt or with the worker, and the attempt's Usage is measured. Its
	// KillGrace is this Command's. Nil runs the program directly in a
	// process group of its own, which is all that is killed.
	Supervisor *supervisor.Opts
}

// Exec returns an isolated Job that runs cmd for each task: the payload on
// stdin, task details in SLUICE_TASK_* variables (EnvTaskID and the others), stdout (at most MaxResult
// bytes) as the result on exit 0, and on any other exit an error with the exit
// status and the tail of stderr (exit ExitPermanent: no retries). When the
// task's context ends, the command gets SIGTERM, then SIGKILL after
// KillGrace. With a Supervisor, that goes for every process it started, and
// whatever is still alive when it exits is killed too; without, for its
// process group.
func Exec(name string, cmd Command) Job {
	if len(cmd.Argv) == 0 || cmd.Argv[0] == "" {
		panic("jobs: Exec needs a program")
	}
	return Job{Name: name, Isolated: true, Func: func(ctx context.Context, payload json.RawMessage) ([]byte, error) {
		return cmd.run(ctx, payload)
	}}
}

func (c Command) run(ctx context.Context, payload []byte) ([]byte, error) {
	argv := c.Argv
	if c.Supervisor != nil {
		o := *c.Supervisor
		o.KillGrace = c.KillGrace
		argv = o.Argv(argv)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin = bytes.NewReader(payload)
	stdout := &capped{max: MaxResult}
	stderr := &tail{max: stderrTail}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.Env = append(c.environ(), taskEnv(ctx)...)
	// A grandchild that keeps stdout open must not hold the attempt: once the
	// command exits, its pipes are closed after this delay.
	cmd.WaitDelay = 500 * time.Millisecond

	var err error
	if c.Supervisor != nil {
		err = c.supervise(ctx, cmd)
	} else {
		err = c.runGroup(ctx, cmd)
	}
	var se *startError
	if errors.As(err, &se) {
		return nil, Permanent(fmt.Errorf("start %s: %w", c.Argv[0], se.err))
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%s stopped: %w", c.Argv[0], ctx.Err())
	}
	if err != nil {
		var ee *exitError
		perm := errors.As(err, &ee) && ee.code == ExitPermanent
		msg := err.Error()
		if t := strings.TrimSpace(stderr.String()); t != "" {
			msg += ": " + t
		}
		if perm {
			return nil, Permanent(errors.New(msg))
		}
		return nil, errors.New(msg)
	}
	if stdout.over {
		return nil, Permanent(fmt.Errorf("%s wrote more than %d bytes to stdout (the result limit)", c.Argv[0], MaxResult))
	}
	return stdout.buf.Bytes(), nil
}

func (c Command) environ() []string {
	if c.Env == nil {
		return os.Environ()
	}
	return slices.Clip(c.Env)
}

// taskEnv returns the SLUICE_TASK_* variables of the task ctx carries.
func taskEnv(ctx context.Context) []string {
	info, ok := InfoFrom(ctx)
	if !ok {
		return nil
	}
	env := []string{
		fmt.Sprintf("%s=%d", EnvTaskID, info.TaskID),
		EnvJob + "=" + info.Job,
		fmt.Sprintf("%s=%d", EnvAttempt, info.Attempt),
		EnvDeadline + "=" + info.Deadline.UTC().Format(time.RFC3339Nano),
	}
	if !info.ScheduledFor.IsZero() {
		env = append(env, EnvScheduledFor+"="+info.ScheduledFor.UTC().Format(time.RFC3339Nano))
	}
	if info.ScheduleID != 0 {
		env = append(env, fmt.Sprintf("%s=%d", EnvScheduleID, info.ScheduleID))
	}
	return env
}

// startError is a program that could not be started: retrying will not help.
type startError struct{ err error }

func (e *startError) Error() string { return e.err.Error() }

// exitError is a program's unsuccessful end: "exit status 3", "signal: killed".
type exitError struct {
	code int // exit status; -1 for a signal
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

// supervise runs cmd, a supervisor's command line, and records what the
// supervisor measured in the attempt's Usage.
func (c Command) supervise(ctx context.Context, cmd *exec.Cmd) error {
	p, err := supervisor.Start(cmd)
	if err != nil {
		return &startError{err}
	}
	select {
	case <-p.Done():
	case <-ctx.Done():
		p.Stop()
		backstop := time.NewTimer(c.KillGrace + supervisor.StopMargin)
		select {
		case <-p.Done():
		case <-backstop.C:
			p.Kill()
		}
		backstop.Stop()
	}
	r, err := p.Wait()
	if err != nil {
		return err
	}
	if u := usageFrom(ctx); u != nil {
		*u = Usage{Measured: true, Leftover: r.Leftover, PeakRSS: r.PeakRSS, OOM: r.OOM}
	}
	switch {
	case r.StartErr != "":
		return &startError{errors.New(r.StartErr)}
	case r.OOM:
		return &exitError{code: r.Exit, err: fmt.Errorf("%w (out of memory: the kernel killed it at the memory limit)", r.Err())}
	case r.Err() != nil:
		return &exitError{code: r.Exit, err: r.Err()}
	}
	return nil
}

// runGroup runs cmd in a process group of its own, which it kills when ctx ends.
func (c Command) runGroup(ctx context.Context, cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return &startError{err}
	}
	pgid := cmd.Process.Pid
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()

	var err error
	select {
	case err = <-waited:
	case <-ctx.Done():
		syscall.Kill(-pgid, syscall.SIGTERM)
		grace := time.NewTimer(c.KillGrace)
		select {
		case err = <-waited:
		case <-grace.C:
			syscall.Kill(-pgid, syscall.SIGKILL)
			err = <-waited
		}
		grace.Stop()
	}
	// Whatever the command left behind in its group goes with it.
	syscall.Kill(-pgid, syscall.SIGKILL)

	if errors.Is(err, exec.ErrWaitDelay) && cmd.ProcessState.Success() {
		return nil // it exited 0; a leftover child held its output open
	}
	if err != nil && cmd.ProcessState != nil {
		return &exitError{code: cmd.ProcessState.ExitCode(), err: err}
	}
	return err
}

// capped keeps the first max bytes written and notes whether more came.
type capped struct {
	buf  bytes.Buffer
	max  int
	over bool
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); len(p) > room {
		c.over = true
		c.buf.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return c.buf.Write(p)
}

// tail keeps the last max bytes written.
type tail struct {
	buf []byte
	max int
}

func (t *tail) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tail) String() string { return string(t.buf) }
