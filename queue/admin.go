package queue

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
)

// Errors of Retry, each wrapped with the task it is about.
var (
	// ErrNotRetryable: the task is not failed or cancelled.
	ErrNotRetryable = errors.New("not failed or cancelled")
	// ErrKeyHeld: the task's unique key is held by another queued or running task.
	ErrKeyHeld = errors.New("unique key held by an active task")
)

// RetryBatch is how many tasks RetryFailed moves per write transaction.
const RetryBatch = 500

// retrySQL puts a finished task back to queued with fresh attempts, due now.
// Its history is kept, with an entry marking the retry.
var retrySQL = `
UPDATE %s tasks SET
    state       = 'queued',
    attempt     = 0,
    recoveries  = 0,
    run_at      = ?1,
    finished_at = NULL,
    result      = NULL,
    lease_until = NULL,
    worker      = NULL,
    history     = ` + appendHistory(`json_object(
                      'attempt', attempt, 'outcome', 'retried', 'started_at', ?1, 'duration_ms', 0)`) + `
WHERE id IN (SELECT value FROM json_each(?2)) AND state IN (%s)`

var (
	retryIDsSQL    = fmt.Sprintf(retrySQL, "", "'failed', 'cancelled'")
	retryFailedSQL = fmt.Sprintf(retrySQL, "OR IGNORE", "'failed'")
)

// Retry puts failed or cancelled tasks back to queued with fresh attempts,
// keeping their history. It is all or nothing: if any id is unknown
// (ErrNotFound), not failed or cancelled (ErrNotRetryable), or has a unique
// key held by another active task (ErrKeyHeld), nothing changes and the
// error names every such task.
func (s *Store) Retry(ctx context.Context, ids []int64) error {
	tx, err := s.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return wrap("retry", err)
	}
	defer tx.Rollback()
	var problems []error
	seen := map[int64]bool{}
	keys := map[string]int64{} // unique keys this call will take
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		var (
			state string
			key   sql.NullString
		)
		err := tx.QueryRowContext(ctx, "SELECT state, unique_key FROM tasks WHERE id = ?", id).Scan(&state, &key)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			problems = append(problems, fmt.Errorf("task %d: %w", id, ErrNotFound))
			continue
		case err != nil:
			return fmt.Errorf("retry task %d: %w", id, err)
		case state != string(Failed) && state != string(Cancelled):
			problems = append(problems, fmt.Errorf("task %d is %s: %w", id, state, ErrNotRetryable))
			continue
		case !key.Valid:
			continue
		}
		if other, ok := keys[key.String]; ok {
			problems = append(problems, fmt.Errorf("task %d: unique key %q is also task %d's, retried in the same call: %w",
				id, key.String, other, ErrKeyHeld))
			continue
		}
		keys[key.String] = id
		var holder int64
		err = tx.QueryRowContext(ctx, activeKeySQL, key.String).Scan(&holder)
		switch {
		case err == nil:
			problems = append(problems, fmt.Errorf("task %d: unique key %q is held by task %d: %w", id, key.String, holder, ErrKeyHeld))
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("retry task %d: %w", id, err)
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("retry: %w", errors.Join(problems...))
	}
	b, _ := json.Marshal(ids)
	if _, err := tx.ExecContext(ctx, retryIDsSQL, s.now().UnixMilli(), string(b)); err != nil {
		return wrap("retry", err)
	}
	return wrap("retry", tx.Commit())
}

// RetryResult counts what RetryFailed did.
type RetryResult struct {
	Retried int
	// Skipped counts failed tasks left failed because another queued or
	// running task holds their unique key (or they changed meanwhile).
	Skipped int
}

// RetryFailed puts every failed task (of job, when not empty) back to queued
// with fresh attempts, RetryBatch tasks per write transaction so running
// workers keep claiming in between.
func (s *Store) RetryFailed(ctx context.Context, job string) (RetryResult, error) {
	var res RetryResult
	ids, err := s.readIDs(ctx, "SELECT id FROM tasks WHERE state = 'failed' AND (?1 = '' OR job = ?1) ORDER BY id", job)
	if err != nil {
		return res, wrap("retry failed tasks", err)
	}
	for len(ids) > 0 {
		batch := ids[:min(len(ids), RetryBatch)]
		ids = ids[len(batch):]
		b, _ := json.Marshal(batch)
		// OR IGNORE skips a task whose unique key another task holds.
		r, err := s.db.Write.ExecContext(ctx, retryFailedSQL, s.now().UnixMilli(), string(b))
		if err != nil {
			return res, wrap("retry failed tasks", err)
		}
		n, _ := r.RowsAffected()
		res.Retried += int(n)
		res.Skipped += len(batch) - int(n)
	}
	return res, nil
}

// retryFailedCountSQL counts what RetryFailed would do now: every failed
// task without a unique key, and one per unique key no active task holds.
const retryFailedCountSQL = `
SELECT count(*) FILTER (WHERE unique_key IS NULL)
     + count(DISTINCT unique_key) FILTER (WHERE unique_key IS NOT NULL AND NOT EXISTS (
           SELECT 1 FROM tasks a WHERE a.unique_key = t.unique_key AND a.state IN ('queued', 'running'))),
       count(*)
FROM tasks t WHERE state = 'failed' AND (?1 = '' OR job = ?1)`

// RetryFailedDryRun returns what RetryFailed(ctx, job) would do now, and
// changes nothing.
func (s *Store) RetryFailedDryRun(ctx context.Context, job string) (RetryResult, error) {
	var res RetryResult
	var total int
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, retryFailedCountSQL, job).Scan(&res.Retried, &total)
	})
	res.Skipped = total - res.Retried
	return res, wrap("count failed tasks", err)
}
