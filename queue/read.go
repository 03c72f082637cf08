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

const taskColumns = `id, job, payload, queue, priority, state, attempt, coalesce(max_attempts, 0),
    coalesce(timeout_ms, 0), coalesce(task_group, ''), run_at, created_at, coalesce(started_at, 0),
    coalesce(finished_at, 0), coalesce(lease_until, 0), coalesce(worker, ''), coalesce(duration_ms, 0),
    result, coalesce(error, ''), history, coalesce(unique_key, ''),
    coalesce(schedule_id, 0), coalesce(scheduled_for, 0), octet_length(payload)`

type scanner interface{ Scan(dest ...any) error }

func scanTask(row scanner) (Task, error) {
	var (
		t                                          Task
		payload, history                           string
		result                                     sql.NullString
		state                                      string
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
		return t, fmt.Errorf("task %d: history: %w", t.ID, err)
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
		t, err = scanTask(tx.QueryRowContext(ctx, "SELECT "+taskColumns+" FROM tasks WHERE id = ?", id))
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

// NextDue returns when the earliest queued task becomes due, or the zero time
// when nothing is queued. Run loops sleep until then.
func (s *Store) NextDue(ctx context.Context) (time.Time, error) {
	var v sql.NullInt64
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, "SELECT min(run_at) FROM tasks WHERE state = 'queued'").Scan(&v)
	})
	if err != nil || !v.Valid {
		return time.Time{}, wrap("next due task", err)
	}
	return fromMS(v.Int64), nil
}
