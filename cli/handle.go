package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/jobs"
)

// handleCommand is the hidden subcommand a worker runs, as a child process, to
// execute one Go handler under process isolation. It is not for people.
const handleCommand = "handle"

// runHandle runs the Go handler args[0] with the payload from stdin and
// writes its result to stdout. Its context ends at SLUICE_TASK_DEADLINE or on
// SIGTERM (ctx). Exit 1 is a failure (the error on stderr), exit
// jobs.ExitPermanent a failure that retrying cannot fix.
func runHandle(ctx context.Context, m *Main, args []string) error {
	if len(args) != 1 {
		return usagef("handle: want exactly one job name")
	}
	reg := m.Jobs
	if reg == nil {
		reg = jobs.NewRegistry()
	}
	job, err := reg.Lookup(args[0])
	if err != nil {
		return err
	}
	payload, err := io.ReadAll(m.Stdin)
	if err != nil {
		return fmt.Errorf("read payload: %w", err)
	}
	info := taskInfo(m.Environ, args[0])
	if !info.Deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, info.Deadline)
		defer cancel()
	}
	out, err := job.Func(jobs.WithInfo(ctx, info), payload)
	if err != nil {
		return err // ExitCode turns a jobs.Permanent error into jobs.ExitPermanent
	}
	_, err = m.Stdout.Write(out)
	return err
}

// taskInfo rebuilds, from the SLUICE_TASK_* variables the worker set, the
// jobs.Info a handler would get in-process. A variable that is missing or
// does not parse leaves its field zero.
func taskInfo(environ []string, job string) jobs.Info {
	info := jobs.Info{Job: job}
	info.TaskID, _ = strconv.ParseInt(lookup(environ, jobs.EnvTaskID), 10, 64)
	info.Attempt, _ = strconv.Atoi(lookup(environ, jobs.EnvAttempt))
	info.Deadline, _ = time.Parse(time.RFC3339Nano, lookup(environ, jobs.EnvDeadline))
	info.ScheduleID, _ = strconv.ParseInt(lookup(environ, jobs.EnvScheduleID), 10, 64)
	info.ScheduledFor, _ = time.Parse(time.RFC3339Nano, lookup(environ, jobs.EnvScheduledFor))
	return info
}
