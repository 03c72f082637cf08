package queue

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
)

// ErrNotCancellable is returned when cancelling a task that already finished.
var ErrNotCancellable = errors.New("task already finished")

// CancelledError is recorded as the error of a cancelled task.
const CancelledError = "cancelled by an operator"

const cancelSQL = `
UPDATE tasks SET
    state       = 'cancelled',
    finished_at = ?2,
    error       = ?3,
    lease_until = NULL,
    history     = CASE WHEN state = 'running' THEN json_insert(history, '$[#]', json_object(
                      'attempt', attempt, 'outcome', 'cancelled', 'started_at', started_at,
                      'duration_ms', ?2 - started_at, 'error', ?3)) ELSE history END
WHERE id = ?1 AND state IN ('queued', 'running')`

// Cancel ends a queued or running task as cancelled and returns the state it
// was in. A running task's worker notices within its cancel poll interval and
// stops the attempt (killing its process); its outcome is then discarded.
// The worker column is kept so that worker can find its cancelled tasks.
func (s *Store) Cancel(ctx context.Context, id int64) (State, error) {
	tx, err := s.db.Write.BeginTx(ctx, nil) // BEGIN IMMEDIATE: the read and the write see the same row
	if err != nil {
		return "", fmt.Errorf("cancel task %d: %w", id, err)
	}
	defer tx.Rollback()
	var prev State
	err = tx.QueryRowContext(ctx, "SELECT state FROM tasks WHERE id = ?", id).Scan(&prev)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("cancel task %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("cancel task %d: %w", id, err)
	}
	if prev.Final() {
		return prev, fmt.Errorf("cancel task %d: %w (it %s)", id, ErrNotCancellable, prev)
	}
	if _, err := tx.ExecContext(ctx, cancelSQL, id, s.now().UnixMilli(), CancelledError); err != nil {
		return "", fmt.Errorf("cancel task %d: %w", id, err)
	}
	return prev, wrap(fmt.Sprintf("cancel task %d", id), tx.Commit())
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
