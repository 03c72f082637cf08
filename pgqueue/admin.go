package pgqueue

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/queue"
)

// cancelSQL ends queued or running tasks cancelled; $1 is the ids. Their
// hooks (WhenDone follow-ups) are enqueued by the same statement.
var cancelSQL = `
WITH c AS (SELECT ` + nowParam(3) + ` AS now),
d AS (
UPDATE tasks t SET
    state       = 'cancelled',
    finished_at = c.now,
    error       = $2::text,
    lease_until = NULL,
    history     = CASE WHEN t.state = 'running' THEN t.history || jsonb_build_array(jsonb_build_object(
                      'attempt', t.attempt, 'outcome', 'cancelled', 'started_at', t.started_at,
                      'duration_ms', c.now - t.started_at, 'error', $2::text)) ELSE t.history END
FROM c
WHERE t.id = ANY($1::bigint[]) AND t.state IN ('queued', 'running')
RETURNING ` + finishedCols + `),` + followUpsCTE("d") + `
SELECT count(*) FROM d`

// Cancel ends queued or running tasks as cancelled and returns the state
// each was in, all or nothing as queue.Store.Cancel: if any id is unknown
// (queue.ErrNotFound) or already succeeded or failed
// (queue.ErrNotCancellable), nothing changes and the error names every such
// task; a task already cancelled is reported as Cancelled and left alone. A
// running task's worker notices within its cancel poll interval and stops
// the attempt; its outcome is then discarded. The worker column is kept so
// that worker can find its cancelled tasks.
func (s *Store) Cancel(ctx context.Context, ids []int64) (map[int64]queue.State, error) {
	prev := make(map[int64]queue.State, len(ids))
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// FOR UPDATE: the reads and the writes see the same rows.
		rows, err := tx.Query(ctx, "SELECT id, state FROM tasks WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE", ids)
		if err != nil {
			return err
		}
		var id int64
		var st queue.State
		if _, err := pgx.ForEachRow(rows, []any{&id, &st}, func() error { prev[id] = st; return nil }); err != nil {
			return err
		}
		var problems []error
		seen := make(map[int64]bool, len(ids))
		for _, id := range ids {
			if seen[id] {
				continue
			}
			seen[id] = true
			st, ok := prev[id]
			switch {
			case !ok:
				problems = append(problems, fmt.Errorf("task %d: %w", id, queue.ErrNotFound))
			case st == queue.Succeeded || st == queue.Failed:
				problems = append(problems, fmt.Errorf("task %d %s: %w", id, st, queue.ErrNotCancellable))
			}
		}
		if len(problems) > 0 {
			return errors.Join(problems...)
		}
		_, err = tx.Exec(ctx, cancelSQL, ids, queue.CancelledError, s.nowArg())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("cancel: %w", err)
	}
	return prev, nil
}

// CancelledAmong returns which of ids are cancelled. A worker asks it about
// the tasks it is running, to stop the ones an operator cancelled.
func (s *Store) CancelledAmong(ctx context.Context, ids []int64) ([]int64, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	out, err := s.readIDs(ctx, "SELECT id FROM tasks WHERE id = ANY($1::bigint[]) AND state = 'cancelled'", ids)
	return out, wrap("find cancelled tasks", err)
}

// readIDs runs a query whose rows are task ids.
func (s *Store) readIDs(ctx context.Context, query string, args ...any) ([]int64, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// retrySQL puts finished tasks back to queued with fresh attempts, due now,
// keeping their history with an entry marking the retry. $1 is now, $2 the
// ids; %s narrows the rows.
const retrySQL = `
UPDATE tasks t SET
    state       = 'queued',
    attempt     = 0,
    recoveries  = 0,
    run_at      = c.now,
    finished_at = NULL,
    result      = NULL,
    lease_until = NULL,
    worker      = NULL,
    history     = t.history || jsonb_build_array(jsonb_build_object(
                      'attempt', t.attempt, 'outcome', 'retried', 'started_at', c.now, 'duration_ms', 0))
FROM (SELECT %s AS now) c
WHERE %s`

var (
	retryIDsSQL = fmt.Sprintf(retrySQL, nowParam(1), "t.id = ANY($2::bigint[]) AND t.state IN ('failed', 'cancelled')")
	// retryFailedSQL skips a task whose unique key another task holds, or
	// that an earlier task of the batch (lower id) takes: SQLite's OR IGNORE.
	retryFailedSQL = fmt.Sprintf(retrySQL, nowParam(1), `t.state = 'failed' AND t.id IN (
    SELECT DISTINCT ON (f.unique_key, CASE WHEN f.unique_key IS NULL THEN f.id END) f.id
    FROM tasks f
    WHERE f.id = ANY($2::bigint[]) AND f.state = 'failed'
      AND NOT EXISTS (SELECT 1 FROM tasks h WHERE h.unique_key = f.unique_key AND h.state IN ('queued', 'running'))
    ORDER BY f.unique_key, CASE WHEN f.unique_key IS NULL THEN f.id END, f.id)`)
)

// Retry puts failed or cancelled tasks back to queued with fresh attempts,
// keeping their history. It is all or nothing: if any id is unknown
// (queue.ErrNotFound), not failed or cancelled (queue.ErrNotRetryable), or
// has a unique key held by another active task (queue.ErrKeyHeld), nothing
// changes and the error names every such task.
func (s *Store) Retry(ctx context.Context, ids []int64) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Lock every task at once in id order, as Cancel does: two calls
		// locking in their callers' orders could wait on each other.
		type row struct {
			state string
			key   *string
		}
		found := make(map[int64]row, len(ids))
		rows, err := tx.Query(ctx, "SELECT id, state, unique_key FROM tasks WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE", ids)
		if err != nil {
			return err
		}
		var (
			id int64
			r  row
		)
		if _, err := pgx.ForEachRow(rows, []any{&id, &r.state, &r.key}, func() error { found[id] = r; return nil }); err != nil {
			return err
		}
		var problems []error
		seen := map[int64]bool{}
		keys := map[string]int64{} // unique keys this call will take
		for _, id := range ids {
			if seen[id] {
				continue
			}
			seen[id] = true
			r, ok := found[id]
			if !ok {
				problems = append(problems, fmt.Errorf("task %d: %w", id, queue.ErrNotFound))
				continue
			}
			problem, err := retryProblem(ctx, tx, id, r.state, r.key, keys)
			if err != nil {
				return fmt.Errorf("task %d: %w", id, err)
			}
			if problem != nil {
				problems = append(problems, problem)
			}
		}
		if len(problems) > 0 {
			return errors.Join(problems...)
		}
		_, err = tx.Exec(ctx, retryIDsSQL, s.nowArg(), ids)
		if isUniqueViolation(err) {
			// An enqueue took a key between the check and the update.
			err = fmt.Errorf("%w: %w", queue.ErrKeyHeld, err)
		}
		return err
	})
	return wrap("retry", err)
}

// retryProblem says why task id, in state with unique key key, cannot be
// retried, or nil; keys collects the unique keys the call takes.
func retryProblem(ctx context.Context, tx pgx.Tx, id int64, state string, key *string, keys map[string]int64) (problem, err error) {
	switch {
	case state != string(queue.Failed) && state != string(queue.Cancelled):
		return fmt.Errorf("task %d is %s: %w", id, state, queue.ErrNotRetryable), nil
	case key == nil:
		return nil, nil
	}
	if other, ok := keys[*key]; ok {
		return fmt.Errorf("task %d: unique key %q is also task %d's, retried in the same call: %w",
			id, *key, other, queue.ErrKeyHeld), nil
	}
	keys[*key] = id
	var holder int64
	err = tx.QueryRow(ctx, "SELECT id FROM tasks WHERE unique_key = $1 AND state IN ('queued', 'running')", *key).Scan(&holder)
	switch {
	case err == nil:
		return fmt.Errorf("task %d: unique key %q is held by task %d: %w", id, *key, holder, queue.ErrKeyHeld), nil
	case !errors.Is(err, pgx.ErrNoRows):
		return nil, err
	}
	return nil, nil
}

// RetryFailed puts every failed task (of job, when not empty) back to queued
// with fresh attempts, queue.RetryBatch tasks per transaction so running
// workers keep claiming in between.
func (s *Store) RetryFailed(ctx context.Context, job string) (queue.RetryResult, error) {
	var res queue.RetryResult
	ids, err := s.readIDs(ctx, "SELECT id FROM tasks WHERE state = 'failed' AND ($1::text = '' OR job = $1::text) ORDER BY id", job)
	if err != nil {
		return res, wrap("retry failed tasks", err)
	}
	for len(ids) > 0 {
		batch := ids[:min(len(ids), queue.RetryBatch)]
		ids = ids[len(batch):]
		n, err := s.retryFailedBatch(ctx, batch)
		for try := 1; isUniqueViolation(err) && try < insertTries; try++ {
			// An enqueue took a key between the check and the update; the
			// statement sees its holder now and skips the task.
			n, err = s.retryFailedBatch(ctx, batch)
		}
		if err != nil {
			return res, wrap("retry failed tasks", err)
		}
		res.Retried += n
		res.Skipped += len(batch) - n
	}
	return res, nil
}

// retryFailedBatch retries the failed tasks among ids (sorted) in one
// transaction and returns how many it retried. It locks them first in id
// order, as Cancel and Retry do, so that none of them waits on another in a
// cycle.
func (s *Store) retryFailedBatch(ctx context.Context, ids []int64) (int, error) {
	var n int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "SELECT FROM tasks WHERE id = ANY($1::bigint[]) AND state = 'failed' ORDER BY id FOR UPDATE", ids)
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, retryFailedSQL, s.nowArg(), ids)
		n = int(tag.RowsAffected())
		return err
	})
	return n, err
}

// retryFailedCountSQL counts what RetryFailed would do now: every failed
// task without a unique key, and one per unique key no active task holds.
const retryFailedCountSQL = `
SELECT count(*) FILTER (WHERE unique_key IS NULL)
     + count(DISTINCT unique_key) FILTER (WHERE unique_key IS NOT NULL AND NOT EXISTS (
           SELECT 1 FROM tasks a WHERE a.unique_key = t.unique_key AND a.state IN ('queued', 'running'))),
       count(*)
FROM tasks t WHERE state = 'failed' AND ($1 = '' OR job = $1)`

// RetryFailedDryRun returns what RetryFailed(ctx, job) would do now, and
// changes nothing.
func (s *Store) RetryFailedDryRun(ctx context.Context, job string) (queue.RetryResult, error) {
	var res queue.RetryResult
	var total int
	err := s.pool.QueryRow(ctx, retryFailedCountSQL, job).Scan(&res.Retried, &total)
	res.Skipped = total - res.Retried
	return res, wrap("count failed tasks", err)
}
