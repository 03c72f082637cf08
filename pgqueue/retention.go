package pgqueue

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/queue"
)

// The statements of Prune; $1 is a final state. SKIP LOCKED leaves a row an
// operator is touching to the next batch instead of waiting for it.
const (
	// pruneAgeSQL deletes up to $3 tasks that finished before $2.
	pruneAgeSQL = `DELETE FROM tasks WHERE id IN (
		SELECT id FROM tasks WHERE state = $1::text AND finished_at < $2
		ORDER BY finished_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)`
	// A task without a finish time (written by another program) counts as
	// older than every task with one, as in SQLite, where NULL sorts first.
	// The statements read tasks with a finish time and tasks without one
	// apart, each in the order of tasks_state (state, finished_at), so a
	// long history is walked from its end instead of read whole and sorted.

	// pruneLineSQL finds the ($2+1)-th newest task with a finish time.
	pruneLineSQL = `SELECT finished_at, id FROM tasks WHERE state = $1::text AND finished_at IS NOT NULL
		ORDER BY finished_at DESC, id DESC LIMIT 1 OFFSET $2`
	// pruneNullLineSQL finds the line among tasks without a finish time,
	// when fewer than $2+1 tasks have one: the ($2+1-those)-th newest by id.
	pruneNullLineSQL = `SELECT id FROM tasks WHERE state = $1::text AND finished_at IS NULL
		ORDER BY id DESC LIMIT 1 OFFSET $2::bigint - (
			SELECT count(*) FROM tasks WHERE state = $1::text AND finished_at IS NOT NULL)`
	// pruneCountSQL deletes up to $4 tasks older than the line ($2, $3).
	pruneCountSQL = `DELETE FROM tasks WHERE id IN (
		SELECT id FROM tasks WHERE state = $1::text
		AND finished_at <= $2::bigint AND (finished_at < $2::bigint OR id < $3)
		ORDER BY finished_at, id LIMIT $4 FOR UPDATE SKIP LOCKED)`
	// pruneNullSQL deletes up to $3 tasks without a finish time and an id
	// below $2. It runs until none is left, so any order does; ordering by
	// the index's columns makes the planner walk tasks_state to the few
	// such tasks (it takes "finished_at IS NULL" for as common as among
	// queued tasks, and would otherwise scan the table or the primary key).
	// The ids go in as an array, found through the primary key.
	pruneNullSQL = `DELETE FROM tasks WHERE id = ANY(ARRAY(
		SELECT id FROM tasks WHERE state = $1::text AND finished_at IS NULL AND id < $2
		ORDER BY state, finished_at LIMIT $3 FOR UPDATE SKIP LOCKED))`
)

// Prune deletes the tasks in final state st that k does not keep, oldest
// first, at most batch (default queue.DefaultPruneBatch) per transaction, so
// workers keep claiming in between. It stops early, returning what it did
// and ctx's error, when ctx ends. Age is measured on the store's clock.
func (s *Store) Prune(ctx context.Context, st queue.State, k queue.Keep, batch int) (queue.Pruned, error) {
	var p queue.Pruned
	if !st.Final() {
		return p, fmt.Errorf("prune: %w: state %q is not final (want succeeded, failed or cancelled)", queue.ErrInvalid, st)
	}
	if batch <= 0 {
		batch = queue.DefaultPruneBatch
	}
	if k.Age > 0 {
		now, err := s.readNow(ctx, s.pool)
		if err == nil {
			err = s.deleteBatches(ctx, &p, pruneAgeSQL, string(st), now.Add(-k.Age).UnixMilli(), batch)
		}
		if err != nil {
			return p, fmt.Errorf("prune %s tasks older than %s: %w", st, k.Age, err)
		}
	}
	if k.Count > 0 {
		if err := s.pruneCount(ctx, &p, st, k.Count, batch); err != nil {
			return p, fmt.Errorf("prune %s tasks beyond the newest %d: %w", st, k.Count, err)
		}
	}
	return p, nil
}

// pruneCount deletes the tasks in state st older than the count-th newest.
// That task marks the line; tasks finishing meanwhile are newer, so the line
// stays right.
func (s *Store) pruneCount(ctx context.Context, p *queue.Pruned, st queue.State, count, batch int) error {
	var at, id int64
	err := s.pool.QueryRow(ctx, pruneLineSQL, string(st), count-1).Scan(&at, &id)
	if err == nil {
		// Every task without a finish time is older than the line.
		if err := s.deleteBatches(ctx, p, pruneNullSQL, string(st), int64(math.MaxInt64), batch); err != nil {
			return err
		}
		return s.deleteBatches(ctx, p, pruneCountSQL, string(st), at, id, batch)
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	err = s.pool.QueryRow(ctx, pruneNullLineSQL, string(st), count-1).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // count or fewer: nothing to do
	}
	if err != nil {
		return err
	}
	return s.deleteBatches(ctx, p, pruneNullSQL, string(st), id, batch)
}

// deleteBatches runs a DELETE whose last argument is its batch size until it
// deletes fewer rows than that. Each run is its own transaction.
func (s *Store) deleteBatches(ctx context.Context, p *queue.Pruned, q string, args ...any) error {
	batch := args[len(args)-1].(int)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		tag, err := s.pool.Exec(ctx, q, args...)
		if err != nil {
			return err
		}
		n := int(tag.RowsAffected())
		if n > 0 {
			p.Deleted += n
			p.Batches++
		}
		if n < batch {
			return nil
		}
	}
}

// PruneDryRun returns how many tasks Prune(ctx, st, k, _) would remove now,
// and removes nothing (queue.Store.PruneDryRun).
func (s *Store) PruneDryRun(ctx context.Context, st queue.State, k queue.Keep) (int, error) {
	if !st.Final() {
		return 0, fmt.Errorf("prune: %w: state %q is not final (want succeeded, failed or cancelled)", queue.ErrInvalid, st)
	}
	cutoff := int64(math.MinInt64)
	if k.Age > 0 {
		now, err := s.readNow(ctx, s.pool)
		if err != nil {
			return 0, fmt.Errorf("count %s tasks to prune: %w", st, err)
		}
		cutoff = now.Add(-k.Age).UnixMilli()
	}
	var total, recent int
	err := s.pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE finished_at IS NULL OR finished_at >= $2)
		FROM tasks WHERE state = $1`, string(st), cutoff).Scan(&total, &recent)
	if err != nil {
		return 0, fmt.Errorf("count %s tasks to prune: %w", st, err)
	}
	kept := recent
	if k.Count > 0 {
		kept = min(kept, k.Count)
	}
	return total - kept, nil
}
