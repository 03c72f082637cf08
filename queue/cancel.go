package queue

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
)

// ErrNotCancellable is returned when cancelling a task that already finished
// (succeeded or failed).
var ErrNotCancellable = errors.New("task already finished")

// CancelledError is recorded as the error of a cancelled task.
const CancelledError = "cancelled by an operator"

var cancelSQL = `
UPDATE tasks SET
    state       = 'cancelled',
    finished_at = ?2,
    error       = ?3,
    lease_until = NULL,
    history     = CASE WHEN state = 'running' THEN ` + appendHistory(`json_object(
                      'attempt', attempt, 'outcome', 'cancelled', 'started_at', started_at,
                      'duration_ms', ?2 - started_at, 'error', ?3)`) + ` ELSE history END
WHERE id = ?1 AND state IN ('queued', 'running')`

// Cancel ends queued or running tasks as cancelled and returns the state each
// was in. It is all or nothing, like Retry: if any id is unknown
// (ErrNotFound) or already succeeded or failed (ErrNotCancellable), nothing
// changes and the error names every such task. A task already cancelled is
// left as it is and reported as Cancelled, so cancelling twice is harmless.
//
// A running task's worker notices within its cancel poll interval and stops
// the attempt (killing its process); its outcome is then discarded. The
// worker column is kept so that worker can find its cancelled tasks.
func (s *Store) Cancel(ctx context.Context, ids []int64) (map[int64]State, error) {
	tx, err := s.db.Write.BeginTx(ctx, nil) // BEGIN IMMEDIATE: the reads and the writes see the same rows
	if err != nil {
		return nil, wrap("cancel", err)
	}
	defer tx.Rollback()
	prev := make(map[int64]State, len(ids))
	var problems []error
	for _, id := range ids {
		if _, seen := prev[id]; seen {
			continue
		}
		var st State
		err := tx.QueryRowContext(ctx, "SELECT state FROM tasks WHERE id = ?", id).Scan(&st)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			problems = append(problems, fmt.Errorf("task %d: %w", id, ErrNotFound))
			continue
		case err != nil:
			return nil, fmt.Errorf("cancel task %d: %w", id, err)
		case st == Succeeded || st == Failed:
			problems = append(problems, fmt.Errorf("task %d %s: %w", id, st, ErrNotCancellable))
			continue
		}
		prev[id] = st
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("cancel: %w", errors.Join(problems...))
	}
	now := s.now().UnixMilli()
	for id, st := range prev {
		if st == Cancelled {
			continue
		}
		if _, err := tx.ExecContext(ctx, cancelSQL, id, now, CancelledError); err != nil {
			return nil, fmt.Errorf("cancel task %d: %w", id, err)
		}
		// Its hooks (WhenDone follow-ups), in the same transaction.
		if _, err := tx.ExecContext(ctx, followUpSQL, fmt.Sprintf("[%d]", id), now); err != nil {
			return nil, fmt.Errorf("cancel task %d: enqueue follow-ups: %w", id, err)
		}
	}
	return prev, wrap("cancel", tx.Commit())
}

// CancelledAmong returns which of ids are cancelled. A worker asks it about
// the tasks it is running, to stop the ones an operator cancelled.
func (s *Store) CancelledAmong(ctx context.Context, ids []int64) ([]int64, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	list, _ := json.Marshal(ids)
	out, err := s.readIDs(ctx,
		`SELECT id FROM tasks WHERE id IN (SELECT value FROM json_each(?)) AND state = 'cancelled'`, string(list))
	return out, wrap("find cancelled tasks", err)
}
