package queue

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// DefaultQueue is the queue of a task enqueued without one.
const DefaultQueue = "default"

// ErrInvalid is wrapped by every error about bad enqueue parameters.
var ErrInvalid = errors.New("invalid task")

// EnqueueParams describes a task to add. Only Job is required.
type EnqueueParams struct {
	Job         string
	Payload     json.RawMessage // JSON; empty means {}
	Queue       string          // default DefaultQueue
	Priority    int             // >= 0; higher runs first
	RunAt       time.Time       // zero means now
	MaxAttempts int             // 0 means the worker's SLUICE_MAX_ATTEMPTS
	Timeout     time.Duration   // 0 means the worker's SLUICE_TIMEOUT
	Group       string
}

// validate checks p and fills in defaults.
func (p *EnqueueParams) validate() error {
	var problems []string
	if strings.TrimSpace(p.Job) == "" {
		problems = append(problems, "job name is empty")
	}
	if len(p.Payload) == 0 {
		p.Payload = json.RawMessage("{}")
	} else if !json.Valid(p.Payload) {
		problems = append(problems, fmt.Sprintf("payload is not valid JSON: %s", describeJSON(p.Payload)))
	}
	if p.Queue == "" {
		p.Queue = DefaultQueue
	}
	if p.Priority < 0 {
		problems = append(problems, fmt.Sprintf("priority %d is negative", p.Priority))
	}
	if p.MaxAttempts < 0 {
		problems = append(problems, fmt.Sprintf("max attempts %d is negative", p.MaxAttempts))
	}
	if p.Timeout < 0 {
		problems = append(problems, fmt.Sprintf("timeout %s is negative", p.Timeout))
	}
	if p.Timeout > 0 && p.Timeout < time.Millisecond {
		problems = append(problems, fmt.Sprintf("timeout %s is below a millisecond", p.Timeout))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(problems, "; "))
	}
	return nil
}

// describeJSON says where JSON stops being valid.
func describeJSON(b []byte) string {
	var v any
	err := json.Unmarshal(b, &v)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%v (at byte %d)", se, se.Offset)
	}
	if err != nil {
		return err.Error()
	}
	return "invalid"
}

func nullMS(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

func nullInt(v int64) any {
	if v == 0 {
		return nil
	}
	return v
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

const insertSQL = `
INSERT INTO tasks (job, payload, queue, priority, run_at, created_at, max_attempts, timeout_ms, task_group)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`

func (s *Store) insertArgs(p EnqueueParams) []any {
	now := s.now().UnixMilli()
	runAt := now
	if !p.RunAt.IsZero() {
		runAt = p.RunAt.UnixMilli()
	}
	return []any{p.Job, string(p.Payload), p.Queue, p.Priority, runAt, now,
		nullInt(int64(p.MaxAttempts)), nullInt(p.Timeout.Milliseconds()), nullString(p.Group)}
}

// execer is what Enqueue needs from *sql.DB, *sql.Tx and *sql.Conn.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// Enqueue adds one task and returns its id.
func (s *Store) Enqueue(ctx context.Context, p EnqueueParams) (int64, error) {
	return s.enqueue(ctx, s.db.Write, p)
}

// EnqueueTx is like Enqueue, but within an existing transaction on this
// database, so the task exists only if the caller's transaction commits.
func (s *Store) EnqueueTx(ctx context.Context, tx *sql.Tx, p EnqueueParams) (int64, error) {
	return s.enqueue(ctx, tx, p)
}

func (s *Store) enqueue(ctx context.Context, db execer, p EnqueueParams) (int64, error) {
	if err := p.validate(); err != nil {
		return 0, wrap("enqueue", err)
	}
	res, err := db.ExecContext(ctx, insertSQL, s.insertArgs(p)...)
	if err != nil {
		return 0, wrap("enqueue", err)
	}
	s.notify()
	id, err := res.LastInsertId()
	return id, wrap("enqueue", err)
}

// batchInsertSQL inserts every element of a JSON array in one statement.
const batchInsertSQL = `
INSERT INTO tasks (job, payload, queue, priority, run_at, created_at, max_attempts, timeout_ms, task_group)
SELECT value->>'j', value->>'p', value->>'q', value->>'pr', value->>'r', ?1,
       value->>'m', value->>'t', value->>'g'
FROM json_each(?2)`

// batchRow is one task of a batch insert, encoded as JSON for json_each.
type batchRow struct {
	Job         string `json:"j"`
	Payload     string `json:"p"`
	Queue       string `json:"q"`
	Priority    int    `json:"pr"`
	RunAt       int64  `json:"r"`
	MaxAttempts *int   `json:"m,omitempty"`
	TimeoutMS   *int64 `json:"t,omitempty"`
	Group       string `json:"g,omitempty"`
}

// EnqueueMany adds tasks with one INSERT statement in one transaction and
// returns their ids in order. Either all are added or none.
func (s *Store) EnqueueMany(ctx context.Context, ps []EnqueueParams) ([]int64, error) {
	tx, err := s.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return nil, wrap("enqueue batch", err)
	}
	defer tx.Rollback()
	ids, err := s.EnqueueManyTx(ctx, tx, ps)
	if err != nil {
		return nil, err
	}
	return ids, wrap("enqueue batch", tx.Commit())
}

// EnqueueManyTx is like EnqueueMany, but within an existing transaction.
func (s *Store) EnqueueManyTx(ctx context.Context, tx *sql.Tx, ps []EnqueueParams) ([]int64, error) {
	if len(ps) == 0 {
		return nil, nil
	}
	now := s.now().UnixMilli()
	rows := make([]batchRow, len(ps))
	for i := range ps {
		p := &ps[i]
		if err := p.validate(); err != nil {
			return nil, fmt.Errorf("enqueue batch: task %d: %w", i, err)
		}
		r := batchRow{Job: p.Job, Payload: string(p.Payload), Queue: p.Queue, Priority: p.Priority, RunAt: now, Group: p.Group}
		if !p.RunAt.IsZero() {
			r.RunAt = p.RunAt.UnixMilli()
		}
		if p.MaxAttempts > 0 {
			r.MaxAttempts = &p.MaxAttempts
		}
		if p.Timeout > 0 {
			t := p.Timeout.Milliseconds()
			r.TimeoutMS = &t
		}
		rows[i] = r
	}
	data, err := json.Marshal(rows)
	if err != nil {
		return nil, wrap("enqueue batch", err)
	}
	res, err := tx.ExecContext(ctx, batchInsertSQL, now, string(data))
	if err != nil {
		return nil, wrap("enqueue batch", err)
	}
	// One statement under the write lock: rowids are consecutive, ending at the last one.
	last, err := res.LastInsertId()
	if err != nil {
		return nil, wrap("enqueue batch", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return nil, wrap("enqueue batch", err)
	}
	if n != int64(len(ps)) {
		return nil, fmt.Errorf("enqueue batch: inserted %d rows, want %d", n, len(ps))
	}
	ids := make([]int64, len(ps))
	for i := range ids {
		ids[i] = last - int64(len(ps)) + 1 + int64(i)
	}
	s.notify()
	return ids, nil
}
