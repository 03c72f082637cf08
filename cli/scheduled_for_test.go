package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicehq/sluice/cli"
	"github.com/sluicehq/sluice/jobs"
	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/schedule"
)

// TestExecJobGetsScheduledFor drains a scheduled task of an exec job that
// prints SLUICE_TASK_SCHEDULED_FOR: its result is the task's intended time.
// A task enqueued by hand gets no such variable.
func TestExecJobGetsScheduledFor(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	ctx := context.Background()
	s := storeAt(t, path, &clock{t: time.Now()})
	if _, err := s.AddSchedule(ctx, queue.ScheduleParams{Name: "tick", Job: "when",
		Spec: schedule.Spec{Type: schedule.Hourly}}); err != nil {
		t.Fatal(err)
	}
	plain, err := s.Enqueue(ctx, queue.EnqueueParams{Job: "when"})
	if err != nil {
		t.Fatal(err)
	}
	env := environ(path, `SLUICE_EXEC_WHEN=["sh","-c","printf %s \"${SLUICE_TASK_SCHEDULED_FOR-unset}\""]`)
	var errOut bytes.Buffer
	if err := (&cli.Main{Environ: env, Stderr: &errOut}).Run(ctx, []string{"drain"}); err != nil {
		t.Fatalf("drain: %v\n%s", err, errOut.String())
	}
	var id int64
	if err := s.DB().Read.QueryRow("SELECT id FROM tasks WHERE schedule_id IS NOT NULL").Scan(&id); err != nil {
		t.Fatal(err)
	}
	task, err := s.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if want := task.ScheduledFor.UTC().Format(time.RFC3339Nano); task.State != queue.Succeeded || string(task.Result) != want {
		t.Errorf("scheduled task %s, result %q; want succeeded with %q", task.State, task.Result, want)
	}
	if task, err := s.Get(ctx, plain); err != nil || string(task.Result) != "unset" {
		t.Errorf("plain task result %q (%v); want unset", task.Result, err)
	}
}

// TestHandleRebuildsTaskInfo: under process isolation a Go handler runs in
// `sluice handle`, which rebuilds jobs.Info from the SLUICE_TASK_* variables.
func TestHandleRebuildsTaskInfo(t *testing.T) {
	reg := jobs.NewRegistry()
	reg.Register("when", func(ctx context.Context, _ json.RawMessage) ([]byte, error) {
		info, ok := jobs.InfoFrom(ctx)
		if !ok {
			return nil, jobs.Permanent(errNoInfo)
		}
		return json.Marshal(info)
	})
	due := time.Date(2026, 3, 1, 2, 30, 0, 0, time.UTC)
	deadline := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)
	var out, errOut bytes.Buffer
	m := &cli.Main{Jobs: reg, Stdout: &out, Stderr: &errOut, Environ: []string{
		jobs.EnvTaskID + "=42", jobs.EnvJob + "=when", jobs.EnvAttempt + "=2",
		jobs.EnvDeadline + "=" + deadline.Format(time.RFC3339Nano),
		jobs.EnvScheduleID + "=3", jobs.EnvScheduledFor + "=" + due.Format(time.RFC3339Nano),
	}}
	if err := m.Run(context.Background(), []string{"handle", "when"}); err != nil {
		t.Fatalf("handle: %v\n%s", err, errOut.String())
	}
	var got jobs.Info
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	want := jobs.Info{TaskID: 42, Job: "when", Attempt: 2, Deadline: deadline, ScheduleID: 3, ScheduledFor: due}
	if got.TaskID != want.TaskID || got.Job != want.Job || got.Attempt != want.Attempt || !got.Deadline.Equal(want.Deadline) ||
		got.ScheduleID != want.ScheduleID || !got.ScheduledFor.Equal(want.ScheduledFor) {
		t.Errorf("info = %+v; want %+v", got, want)
	}
}

var errNoInfo = errors.New("no jobs.Info in the handler's context")
