package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"
)

// DefaultPruneBatch is how many tasks Prune deletes per write transaction:
// small enough that a claim waiting for the write lock waits milliseconds.
const DefaultPruneBatch = 500

// Keep bounds how many finished tasks of one state are kept. A task goes
// when it finished longer than Age ago, or when it is not among the newest
// Count. A zero field sets no limit; the zero Keep keeps everything.
type Keep struct {
	Age   time.Duration
	Count int
}

// IsZero reports whether k keeps everything.
func (k Keep) IsZero() bool { return k.Age <= 0 && k.Count <= 0 }

// Pruned counts what Prune deleted.
type Pruned struct {
	Deleted int
	Batches int // write transactions that deleted something
}

// The statements of Prune. ?1 is a final state: SQLite compares its bound
// value with the tasks_state index's WHERE clause (see finishedStates).
const (
	// pruneAgeSQL deletes up to ?3 tasks that finished before ?2.
	pruneAgeSQL = `DELETE FROM tasks WHERE id IN (
		SELECT id FROM tasks WHERE state = ?1 AND finished_at < ?2
		ORDER BY finished_at, id LIMIT ?3)`
	// pruneLineSQL finds the (?2+1)-th newest task: the newest one to go.
	pruneLineSQL = `SELECT finished_at, id FROM tasks WHERE state = ?1
		ORDER BY finished_at DESC, id DESC LIMIT 1 OFFSET ?2`
	// pruneCountSQL deletes up to ?4 tasks older than the line (?2, ?3).
	pruneCountSQL = `DELETE FROM tasks WHERE id IN (
		SELECT id FROM tasks WHERE state = ?1
		AND (finished_at IS NULL OR finished_at < ?2 OR (finished_at = ?2 AND id < ?3))
		ORDER BY finished_at, id LIMIT ?4)`
	// pruneCountNullSQL is pruneCountSQL for a line without a finish time.
	pruneCountNullSQL = `DELETE FROM tasks WHERE id IN (
		SELECT id FROM tasks WHERE state = ?1 AND finished_at IS NULL AND id < ?3 AND ?2 IS NULL
		ORDER BY finished_at, id LIMIT ?4)`
)

// Prune deletes the tasks in final state st that k does not keep, oldest
// first, at most batch (default DefaultPruneBatch) per write transaction,
// so workers keep claiming in between. It stops early, returning what it
// did and ctx's error, when ctx ends. Age is measured on the store's clock.
func (s *Store) Prune(ctx context.Context, st State, k Keep, batch int) (Pruned, error) {
	var p Pruned
	if !st.Final() {
		return p, fmt.Errorf("prune: %w: state %q is not final (want succeeded, failed or cancelled)", ErrInvalid, st)
	}
	if batch <= 0 {
		batch = DefaultPruneBatch
	}
	if k.Age > 0 {
		cutoff := s.now().Add(-k.Age).UnixMilli()
		err := s.deleteBatches(ctx, &p, pruneAgeSQL, string(st), cutoff, batch)
		if err != nil {
			return p, fmt.Errorf("prune %s tasks older than %s: %w", st, k.Age, err)
		}
	}
	if k.Count > 0 {
		// The Count-th newest task marks the line: everything older goes.
		// Tasks finishing meanwhile are newer, so the line stays right.
		var (
			at sql.NullInt64
			id int64
		)
		err := s.readTx(ctx, func(tx *sql.Tx) error {
			return tx.QueryRowContext(ctx, pruneLineSQL, string(st), k.Count-1).Scan(&at, &id)
		})
		if errors.Is(err, sql.ErrNoRows) {
			return p, nil // Count or fewer: nothing to do
		}
		if err != nil {
			return p, fmt.Errorf("prune %s tasks beyond the newest %d: %w", st, k.Count, err)
		}
		q := pruneCountSQL
		if !at.Valid { // the line is among tasks without a finish time, which sort first
			q = pruneCountNullSQL
		}
		if err := s.deleteBatches(ctx, &p, q, string(st), at, id, batch); err != nil {
			return p, fmt.Errorf("prune %s tasks beyond the newest %d: %w", st, k.Count, err)
		}
	}
	return p, nil
}

// PruneDryRun returns how many tasks Prune(ctx, st, k, _) would delete now,
// and deletes nothing: all of state st but those k keeps, which are the
// newest Count (all when 0) among those that finished within Age (all when 0).
func (s *Store) PruneDryRun(ctx context.Context, st State, k Keep) (int, error) {
	if !st.Final() {
		return 0, fmt.Errorf("prune: %w: state %q is not final (want succeeded, failed or cancelled)", ErrInvalid, st)
	}
	cutoff := int64(math.MinInt64)
	if k.Age > 0 {
		cutoff = s.now().Add(-k.Age).UnixMilli()
	}
	var total, recent int
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE finished_at IS NULL OR finished_at >= ?2)
			FROM tasks WHERE state = ?1`, string(st), cutoff).Scan(&total, &recent)
	})
	if err != nil {
		return 0, fmt.Errorf("count %s tasks to prune: %w", st, err)
	}
	kept := recent
	if k.Count > 0 {
		kept = min(kept, k.Count)
	}
	return total - kept, nil
}

// deleteBatches runs a DELETE whose last argument is its batch size until it
// deletes fewer rows than that. Each run is its own transaction.
func (s *Store) deleteBatches(ctx context.Context, p *Pruned, q string, args ...any) error {
	batch := args[len(args)-1].(int)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		r, err := s.db.Write.ExecContext(ctx, q, args...)
		if err != nil {
			return err
		}
		n, err := r.RowsAffected()
		if err != nil {
			return err
		}
		if n > 0 {
			p.Deleted += int(n)
			p.Batches++
		}
		if n < int64(batch) {
			return nil
		}
	}
}
