package pgqueue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/queue"
)

const taskColumns = `id, job, payload, queue, priority, state, attempt, coalesce(max_attempts, 0),
    coalesce(timeout_ms, 0), coalesce(task_group, ''), run_at, created_at, coalesce(started_at, 0),
    coalesce(finished_at, 0), coalesce(lease_until, 0), coalesce(worker, ''), coalesce(duration_ms, 0),
    result, coalesce(error, ''), history::text, coalesce(unique_key, ''),
    coalesce(schedule_id, 0), coalesce(scheduled_for, 0), octet_length(payload)`

// listColumns are taskColumns without the payload, result and history,
// which a listing does not show and which can be large.
const listColumns = `id, job, '' AS payload, queue, priority, state, attempt, coalesce(max_attempts, 0),
    coalesce(timeout_ms, 0), coalesce(task_group, ''), run_at, created_at, coalesce(started_at, 0),
    coalesce(finished_at, 0), coalesce(lease_until, 0), coalesce(worker, ''), coalesce(duration_ms, 0),
    NULL::text AS result, coalesce(error, ''), '[]' AS history, coalesce(unique_key, ''),
    coalesce(schedule_id, 0), coalesce(scheduled_for, 0), octet_length(payload)`

func scanTask(row pgx.Row) (queue.Task, error) {
	var (
		t                                          queue.Task
		payload, history, state                    string
		result                                     *string
		timeoutMS, runAt, created, started, finish int64
		lease, duration, scheduledFor              int64
	)
	err := row.Scan(&t.ID, &t.Job, &payload, &t.Queue, &t.Priority, &state, &t.Attempt, &t.MaxAttempts,
		&timeoutMS, &t.Group, &runAt, &created, &started, &finish, &lease, &t.Worker, &duration,
		&result, &t.Error, &history, &t.UniqueKey,
		&t.ScheduleID, &scheduledFor, &t.PayloadBytes)
	if err != nil {
		return t, err
	}
	t.Payload = json.RawMessage(payload)
	t.State = queue.State(state)
	t.Timeout = time.Duration(timeoutMS) * time.Millisecond
	t.RunAt, t.CreatedAt, t.StartedAt = fromMS(runAt), fromMS(created), fromMS(started)
	t.FinishedAt, t.LeaseUntil = fromMS(finish), fromMS(lease)
	t.Duration = time.Duration(duration) * time.Millisecond
	t.ScheduledFor = fromMS(scheduledFor)
	if result != nil {
		t.Result = []byte(*result)
	}
	if err := json.Unmarshal([]byte(history), &t.History); err != nil {
		return t, fmt.Errorf("task %d: history: %w", t.ID, err)
	}
	for i := range t.History {
		a := &t.History[i]
		a.StartedAt = fromMS(a.StartedMS)
		a.Duration = time.Duration(a.DurationMS) * time.Millisecond
	}
	return t, nil
}

// collectTasks scans rows of taskColumns or listColumns.
func collectTasks(rows pgx.Rows, list bool) ([]queue.Task, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (queue.Task, error) {
		t, err := scanTask(row)
		if list {
			t.Payload = nil
		}
		return t, err
	})
}

// Get returns one task with its full history.
func (s *Store) Get(ctx context.Context, id int64) (queue.Task, error) {
	t, err := scanTask(s.pool.QueryRow(ctx, "SELECT "+taskColumns+" FROM tasks WHERE id = $1", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return queue.Task{}, fmt.Errorf("get task %d: %w", id, queue.ErrNotFound)
	}
	return t, wrap(fmt.Sprintf("get task %d", id), err)
}

// countsSQL counts tasks by state, each part on the index that holds it.
const countsSQL = `SELECT 'queued', count(*) FROM tasks WHERE state = 'queued'
UNION ALL
SELECT 'running', count(*) FROM tasks WHERE state = 'running'
UNION ALL
SELECT state, count(*) FROM tasks WHERE state IN ('succeeded', 'failed', 'cancelled') GROUP BY state`

// Counts returns how many tasks are in each state; every state is present.
func (s *Store) Counts(ctx context.Context) (map[queue.State]int, error) {
	counts := zeroCounts()
	rows, err := s.pool.Query(ctx, countsSQL)
	if err != nil {
		return counts, wrap("count tasks", err)
	}
	var (
		st string
		n  int
	)
	_, err = pgx.ForEachRow(rows, []any{&st, &n}, func() error {
		counts[queue.State(st)] = n
		return nil
	})
	return counts, wrap("count tasks", err)
}

func zeroCounts() map[queue.State]int {
	m := make(map[queue.State]int, len(queue.States))
	for _, st := range queue.States {
		m[st] = 0
	}
	return m
}

// NextDue returns when the earliest queued task becomes due, or the zero time
// when nothing is queued.
func (s *Store) NextDue(ctx context.Context) (time.Time, error) {
	var v *int64
	err := s.pool.QueryRow(ctx, "SELECT min(run_at) FROM tasks WHERE state = 'queued'").Scan(&v)
	if err != nil || v == nil {
		return time.Time{}, wrap("next due task", err)
	}
	return fromMS(*v), nil
}

// Wait polls task id until it reaches a final state (succeeded, failed or
// cancelled) and returns it. It returns ctx's error, wrapped, when ctx ends
// first, and queue.ErrNotFound, wrapped, if the task does not exist.
func (s *Store) Wait(ctx context.Context, id int64, opts queue.WaitOpts) (queue.Task, error) {
	if opts.Interval <= 0 {
		opts.Interval = queue.DefaultWaitInterval
	}
	t := time.NewTicker(opts.Interval)
	defer t.Stop()
	for {
		task, err := s.Get(ctx, id)
		if err != nil && ctx.Err() != nil {
			return queue.Task{}, fmt.Errorf("wait for task %d: %w", id, context.Cause(ctx))
		}
		if err != nil {
			return queue.Task{}, fmt.Errorf("wait for task %d: %w", id, err)
		}
		if task.State.Final() {
			return task, nil
		}
		select {
		case <-ctx.Done():
			return queue.Task{}, fmt.Errorf("wait for task %d (still %s): %w", id, task.State, context.Cause(ctx))
		case <-t.C:
		}
	}
}
