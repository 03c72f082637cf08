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
	// pruneLineSQL finds the ($2+1)-th newest task: the newest one to keep.
	pruneLineSQL = `SELECT finished_at, id FROM tasks WHERE state = $1::text
		ORDER BY finished_at DESC NULLS LAST, id DESC LIMIT 1 OFFSET $2`
	// pruneCountSQL deletes up to $4 tasks older than the line ($2, $3).
	pruneCountSQL = `DELETE FROM tasks WHERE id IN (
		SELECT id FROM tasks WHERE state = $1::text
		AND (finished_at IS NULL OR finished_at < $2::bigint OR (finished_at = $2::bigint AND id < $3))
		ORDER BY finished_at NULLS FIRST, id LIMIT $4 FOR UPDATE SKIP LOCKED)`
	// pruneCountNullSQL is pruneCountSQL for a line without a finish time.
	pruneCountNullSQL = `DELETE FROM tasks WHERE id IN (
		SELECT id FROM tasks WHERE state = $1::text AND finished_at IS NULL AND id < $3 AND $2::bigint IS NULL
		ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED)`
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
		// The Count-th newest task marks the line: everything older goes.
		// Tasks finishing meanwhile are newer, so the line stays right.
		var (
			at *int64
			id int64
		)
		err := s.pool.QueryRow(ctx, pruneLineSQL, string(st), k.Count-1).Scan(&at, &id)
		if errors.Is(err, pgx.ErrNoRows) {
			return p, nil // Count or fewer: nothing to do
		}
		if err != nil {
			return p, fmt.Errorf("prune %s tasks beyond the newest %d: %w", st, k.Count, err)
		}
		q := pruneCountSQL
		if at == nil { // the line is among tasks without a finish time, which sort first
			q = pruneCountNullSQL
		}
		if err := s.deleteBatches(ctx, &p, q, string(st), at, id, batch); err != nil {
			return p, fmt.Errorf("prune %s tasks beyond the newest %d: %w", st, k.Count, err)
		}
	}
	return p, nil
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
