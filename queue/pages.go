package queue

import (
	"context"
	"database/sql"
	"fmt"
	"math"
)

// Keyset listings of one state, each in the order of the index that holds
// the state, so a page costs the same on the first page and the ten
// thousandth, however long the history: ?1, ?2 (and ?3) are the cursor, the
// last argument the row count.
const (
	// finishedPageSQL: newest finish first, through tasks_state; the state is
	// bound (SQLite compiles the statement for the bound value, so the
	// partial index applies).
	finishedPageSQL = `SELECT %s FROM tasks
	WHERE state = ?4 AND finished_at <= ?1 AND (finished_at < ?1 OR id < ?2)
	ORDER BY finished_at DESC, id DESC LIMIT ?3`
	// runningPageSQL: earliest lease expiry first, through tasks_lease.
	runningPageSQL = `SELECT %s FROM tasks
	WHERE state = 'running' AND lease_until >= ?1 AND (lease_until > ?1 OR id > ?2)
	ORDER BY lease_until, id LIMIT ?3`
	// queuedPageSQL: the claim's order (priority, due time, id), through tasks_due.
	queuedPageSQL = `SELECT %s FROM tasks
	WHERE state = 'queued' AND priority <= ?1
	  AND (priority < ?1 OR run_at > ?2 OR (run_at = ?2 AND id > ?3))
	ORDER BY priority DESC, run_at, id LIMIT ?4`
)

// TasksPage returns up to limit tasks (0: DefaultPageSize) in state st,
// after the cursor: finished tasks newest first, running ones by lease
// expiry, queued ones in the order they will be claimed.
func (s *Store) TasksPage(ctx context.Context, st State, after Cursor, limit int) (Page, error) {
	if _, err := ParseState(string(st)); err != nil {
		return Page{}, wrap("list tasks", err)
	}
	if limit <= 0 {
		limit = DefaultPageSize
	}
	var (
		q    string
		args []any
		key  func(Task) Cursor
	)
	switch st {
	case Queued:
		pr, at, id := after.Priority, after.Key, after.ID
		if after.IsZero() {
			pr, at, id = math.MaxInt64, math.MinInt64, math.MinInt64
		}
		q, args = fmt.Sprintf(queuedPageSQL, listColumns), []any{pr, at, id, limit + 1}
		key = func(t Task) Cursor { return Cursor{Priority: t.Priority, Key: ms(t.RunAt), ID: t.ID} }
	case Running:
		at, id := after.Key, after.ID
		if after.IsZero() {
			at, id = math.MinInt64, math.MinInt64
		}
		q, args = fmt.Sprintf(runningPageSQL, listColumns), []any{at, id, limit + 1}
		key = func(t Task) Cursor { return Cursor{Key: ms(t.LeaseUntil), ID: t.ID} }
	default:
		at, id := after.Key, after.ID
		if after.IsZero() {
			at, id = math.MaxInt64, math.MaxInt64
		}
		q, args = fmt.Sprintf(finishedPageSQL, listColumns), []any{at, id, limit + 1, string(st)}
		key = func(t Task) Cursor { return Cursor{Key: ms(t.FinishedAt), ID: t.ID} }
	}
	var page Page
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		var err error
		page, err = readPage(ctx, tx, q, args, limit, key)
		return err
	})
	return page, wrap(fmt.Sprintf("list %s tasks", st), err)
}
