package queue

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ErrNotFound is returned for a task id that does not exist.
var ErrNotFound = errors.New("task not found")

// readTx runs fn in a read-only transaction: a consistent snapshot that
// never takes the write lock.
func (s *Store) readTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.Read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return fn(tx)
}

// taskColumns are a task's columns for scanTask. Integers are CAST, which
// never fails (text reads as its leading number, else 0): a row stored by
// SQL that bypassed the row rules must not fail a whole listing.
const taskColumns = `id, job, payload, queue, CAST(priority AS INTEGER), state, CAST(attempt AS INTEGER),
    coalesce(CAST(max_attempts AS INTEGER), 0), coalesce(CAST(timeout_ms AS INTEGER), 0), coalesce(task_group, ''),
    CAST(run_at AS INTEGER), CAST(created_at AS INTEGER), coalesce(CAST(started_at AS INTEGER), 0),
    coalesce(CAST(finished_at AS INTEGER), 0), coalesce(CAST(lease_until AS INTEGER), 0), coalesce(worker, ''),
    coalesce(CAST(duration_ms AS INTEGER), 0), result, coalesce(error, ''), history, coalesce(unique_key, ''),
    coalesce(CAST(schedule_id AS INTEGER), 0), coalesce(CAST(scheduled_for AS INTEGER), 0), octet_length(payload)`

type scanner interface{ Scan(dest ...any) error }

// scanTask reads taskColumns, then any further columns into extra.
func scanTask(row scanner, extra ...any) (Task, error) {
	var (
		t                                          Task
		payload, history                           string
		result                                     sql.NullString
		state                                      string
		timeoutMS, runAt, created, started, finish int64
		lease, duration, scheduledFor              int64
	)
	dest := []any{&t.ID, &t.Job, &payload, &t.Queue, &t.Priority, &state, &t.Attempt, &t.MaxAttempts,
		&timeoutMS, &t.Group, &runAt, &created, &started, &finish, &lease, &t.Worker, &duration,
		&result, &t.Error, &history, &t.UniqueKey,
		&t.ScheduleID, &scheduledFor, &t.PayloadBytes}
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return t, err
	}
	t.Payload = json.RawMessage(payload)
	t.State = State(state)
	t.Timeout = time.Duration(timeoutMS) * time.Millisecond
	t.RunAt, t.CreatedAt, t.StartedAt = fromMS(runAt), fromMS(created), fromMS(started)
	t.FinishedAt, t.LeaseUntil = fromMS(finish), fromMS(lease)
	t.Duration = time.Duration(duration) * time.Millisecond
	t.ScheduledFor = fromMS(scheduledFor)
	if result.Valid {
		t.Result = []byte(result.String)
	}
	if err := json.Unmarshal([]byte(history), &t.History); err != nil {
		// Only SQL that bypassed the row rules stores such a history; the
		// task is shown without it (Get says why in Invalid).
		t.History = nil
	}
	for i := range t.History {
		a := &t.History[i]
		a.StartedAt = fromMS(a.StartedMS)
		a.Duration = time.Duration(a.DurationMS) * time.Millisecond
	}
	return t, nil
}

// readIDs runs a read-only query whose rows are task ids.
func (s *Store) readIDs(ctx context.Context, query string, args ...any) ([]int64, error) {
	var ids []int64
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return rows.Err()
	})
	return ids, err
}

// Get returns one task with its full history.
func (s *Store) Get(ctx context.Context, id int64) (Task, error) {
	var t Task
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		var err error
		var invalid sql.NullString
		row := tx.QueryRowContext(ctx, "SELECT "+taskColumns+", "+rowProblemSQL+" FROM tasks WHERE id = ?", id)
		t, err = scanTask(row, &invalid)
		t.Invalid = invalid.String
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return Task{}, fmt.Errorf("get task %d: %w", id, ErrNotFound)
	}
	return t, wrap(fmt.Sprintf("get task %d", id), err)
}

// countsSQL counts tasks by state through the indexes that hold them:
// tasks_due the queued ones, tasks_lease the running ones, tasks_state the
// finished ones.
const countsSQL = `SELECT 'queued', count(*) FROM tasks WHERE state = 'queued'
UNION ALL
SELECT 'running', count(*) FROM tasks WHERE state = 'running'
UNION ALL
SELECT state, count(*) FROM tasks WHERE ` + finishedStates + ` GROUP BY state`

// Counts returns how many tasks are in each state; every state is present.
func (s *Store) Counts(ctx context.Context) (map[State]int, error) {
	counts := make(map[State]int, len(States))
	for _, st := range States {
		counts[st] = 0
	}
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, countsSQL)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var st string
			var n int
			if err := rows.Scan(&st, &n); err != nil {
				return err
			}
			counts[State(st)] = n
		}
		return rows.Err()
	})
	return counts, wrap("count tasks", err)
}

// sinceDue is an SQL expression for a stored time v that says when it is
// due: v itself, or 1 (long past) for a value that is not a time, past year
// 9999 (text sorts after every number), so that what a claim takes at once
// (claimSQL) is due at once.
func sinceDue(v string) string {
	return "CASE WHEN " + v + " > " + maxMSText + " THEN 1 ELSE CAST(" + v + " AS INTEGER) END"
}

// NextDue returns when the earliest queued task becomes due, or the zero time
// when nothing is queued. Run loops sleep until then.
func (s *Store) NextDue(ctx context.Context) (time.Time, error) {
	var v sql.NullInt64
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, "SELECT "+sinceDue("min(run_at)")+" FROM tasks WHERE state = 'queued'").Scan(&v)
	})
	if err != nil || !v.Valid {
		return time.Time{}, wrap("next due task", err)
	}
	return fromMS(v.Int64), nil
}
