package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
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
}

// Exec returns an isolated Job that runs cmd for each task: the payload on
// stdin, task details in SLUICE_TASK_* variables (EnvTaskID and the others), stdout (at most MaxResult
// bytes) as the result on exit 0, and on any other exit an error with the exit
// status and the tail of stderr (exit ExitPermanent: no retries). The command runs in its own process group;
// when the task's context ends the whole group gets SIGTERM, then SIGKILL
// after KillGrace, and no process of the group outlives the attempt.
func Exec(name string, cmd Command) Job {
	if len(cmd.Argv) == 0 || cmd.Argv[0] == "" {
		panic("jobs: Exec needs a program")
	}
	return Job{Name: name, Isolated: true, Func: func(ctx context.Context, payload json.RawMessage) ([]byte, error) {
		return cmd.run(ctx, payload)
	}}
}

func (c Command) run(ctx context.Context, payload []byte) ([]byte, error) {
	cmd := exec.Command(c.Argv[0], c.Argv[1:]...)
	cmd.Stdin = bytes.NewReader(payload)
	stdout := &capped{max: MaxResult}
	stderr := &tail{max: stderrTail}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.Env = c.Env
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	if info, ok := InfoFrom(ctx); ok {
		cmd.Env = append(cmd.Env,
			fmt.Sprintf("%s=%d", EnvTaskID, info.TaskID),
			EnvJob+"="+info.Job,
			fmt.Sprintf("%s=%d", EnvAttempt, info.Attempt),
			EnvDeadline+"="+info.Deadline.UTC().Format(time.RFC3339Nano))
		if !info.ScheduledFor.IsZero() {
			cmd.Env = append(cmd.Env, EnvScheduledFor+"="+info.ScheduledFor.UTC().Format(time.RFC3339Nano))
		}
		if info.ScheduleID != 0 {
			cmd.Env = append(cmd.Env, fmt.Sprintf("%s=%d", EnvScheduleID, info.ScheduleID))
		}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A grandchild that keeps stdout open must not hold the attempt: once the
	// command exits, its pipes are closed after this delay.
	cmd.WaitDelay = 500 * time.Millisecond

	if err := cmd.Start(); err != nil {
		return nil, Permanent(fmt.Errorf("start %s: %w", c.Argv[0], err))
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

	if ctx.Err() != nil {
		return nil, fmt.Errorf("%s stopped: %w", c.Argv[0], ctx.Err())
	}
	if errors.Is(err, exec.ErrWaitDelay) && cmd.ProcessState.Success() {
		err = nil // it exited 0; a leftover child held its output open
	}
	if err != nil {
		perm := cmd.ProcessState != nil && cmd.ProcessState.ExitCode() == ExitPermanent
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
