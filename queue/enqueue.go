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
	// UniqueKey, when set, makes the task unique while it is queued or
	// running: enqueueing another task with the same key then adds nothing
	// and returns the existing task's id. Once the task has finished, the key
	// is free again. The database enforces this (a partial unique index), so
	// it holds across goroutines and processes.
	UniqueKey string
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
	if p.UniqueKey != "" && strings.TrimSpace(p.UniqueKey) == "" {
		problems = append(problems, "unique key is blank")
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
INSERT INTO tasks (job, payload, queue, priority, run_at, created_at, max_attempts, timeout_ms, task_group, unique_key)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT DO NOTHING
RETURNING id`

// activeKeySQL finds the task holding a unique key (see tasks_unique).
const activeKeySQL = `SELECT id FROM tasks WHERE unique_key = ? AND state IN ('queued', 'running')`

func (s *Store) insertArgs(p EnqueueParams) []any {
	now := s.now().UnixMilli()
	runAt := now
	if !p.RunAt.IsZero() {
		runAt = p.RunAt.UnixMilli()
	}
	return []any{p.Job, string(p.Payload), p.Queue, p.Priority, runAt, now,
		nullInt(int64(p.MaxAttempts)), nullInt(p.Timeout.Milliseconds()), nullString(p.Group), nullString(p.UniqueKey)}
}

// querier is what enqueueing needs from *sql.DB and *sql.Tx.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Enqueued tells what an enqueue did.
type Enqueued struct {
	ID int64
	// Duplicate is true when nothing was added because a queued or running
	// task already held the params' UniqueKey; ID is then that task's id.
	Duplicate bool
}

// Enqueue adds one task and returns its id. With a UniqueKey that a queued
// or running task already holds, it adds nothing and returns that task's id
// (EnqueueUnique also says which happened).
func (s *Store) Enqueue(ctx context.Context, p EnqueueParams) (int64, error) {
	r, err := s.EnqueueUnique(ctx, p)
	return r.ID, err
}

// EnqueueTx is like Enqueue, but within an existing transaction on this
// database, so the task exists only if the caller's transaction commits.
func (s *Store) EnqueueTx(ctx context.Context, tx *sql.Tx, p EnqueueParams) (int64, error) {
	r, err := s.EnqueueUniqueTx(ctx, tx, p)
	return r.ID, err
}

// EnqueueUnique is like Enqueue, and also reports whether the task was a
// duplicate of a queued or running task with the same UniqueKey.
func (s *Store) EnqueueUnique(ctx context.Context, p EnqueueParams) (Enqueued, error) {
	if p.UniqueKey == "" {
		// One autocommit statement: no key, no conflict to resolve.
		return s.enqueue(ctx, s.db.Write, p)
	}
	// The insert and the look-up of the key's holder share one write
	// transaction, so the holder cannot finish in between.
	tx, err := s.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return Enqueued{}, wrap("enqueue", err)
	}
	defer tx.Rollback()
	r, err := s.enqueue(ctx, tx, p)
	if err != nil {
		return Enqueued{}, err
	}
	return r, wrap("enqueue", tx.Commit())
}

// EnqueueUniqueTx is like EnqueueUnique, but within an existing transaction.
func (s *Store) EnqueueUniqueTx(ctx context.Context, tx *sql.Tx, p EnqueueParams) (Enqueued, error) {
	return s.enqueue(ctx, tx, p)
}

func (s *Store) enqueue(ctx context.Context, db querier, p EnqueueParams) (Enqueued, error) {
	if err := p.validate(); err != nil {
		return Enqueued{}, wrap("enqueue", err)
	}
	var r Enqueued
	err := db.QueryRowContext(ctx, insertSQL, s.insertArgs(p)...).Scan(&r.ID)
	if errors.Is(err, sql.ErrNoRows) && p.UniqueKey != "" {
		r.Duplicate = true
		err = db.QueryRowContext(ctx, activeKeySQL, p.UniqueKey).Scan(&r.ID)
	}
	if err == nil && !r.Duplicate {
		s.notify()
	}
	return r, wrap("enqueue", err)
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

// EnqueueMany adds tasks in one transaction and returns their ids in order.
// Either all are added or none. A task whose UniqueKey is held by a queued or
// running task (or by an earlier task of the same batch) is not added; its id
// is the holder's. EnqueueManyUnique also says which tasks were duplicates.
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
	if hasUniqueKey(ps) {
		rs, err := s.enqueueEach(ctx, tx, ps)
		if err != nil {
			return nil, err
		}
		ids := make([]int64, len(rs))
		for i, r := range rs {
			ids[i] = r.ID
		}
		return ids, nil
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

// EnqueueManyUnique is like EnqueueMany, and also reports which tasks were
// duplicates of a queued or running task with the same UniqueKey.
func (s *Store) EnqueueManyUnique(ctx context.Context, ps []EnqueueParams) ([]Enqueued, error) {
	tx, err := s.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return nil, wrap("enqueue batch", err)
	}
	defer tx.Rollback()
	rs, err := s.enqueueEach(ctx, tx, ps)
	if err != nil {
		return nil, err
	}
	return rs, wrap("enqueue batch", tx.Commit())
}

func hasUniqueKey(ps []EnqueueParams) bool {
	for _, p := range ps {
		if p.UniqueKey != "" {
			return true
		}
	}
	return false
}

// enqueueEach inserts tasks one statement each, which a batch with unique
// keys needs: a single INSERT ... SELECT cannot say which rows it skipped.
func (s *Store) enqueueEach(ctx context.Context, tx *sql.Tx, ps []EnqueueParams) ([]Enqueued, error) {
	for i := range ps {
		if err := ps[i].validate(); err != nil {
			return nil, fmt.Errorf("enqueue batch: task %d: %w", i, err)
		}
	}
	rs := make([]Enqueued, len(ps))
	for i, p := range ps {
		r, err := s.enqueue(ctx, tx, p)
		if err != nil {
			return nil, fmt.Errorf("enqueue batch: task %d: %w", i, err)
		}
		rs[i] = r
	}
	return rs, nil
}
