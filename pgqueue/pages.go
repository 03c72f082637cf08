package pgqueue

import (
	"context"
	"fmt"
	"math"

	"github.com/sluicehq/sluice/queue"
)

// Keyset listings of one state, each in the order of the index that holds
// the state, so a page costs the same on the first page and the ten
// thousandth, however long the history: $1, $2 (and $3) are the cursor, the
// next parameter the row count.
const (
	// finishedPageSQL: newest finish first, through tasks_state. The state
	// is a parameter ($4); the IN list lets a generic plan use the partial
	// index too, whose predicate it is.
	finishedPageSQL = `SELECT %s FROM tasks
	WHERE state = $4::text AND state IN ('succeeded', 'failed', 'cancelled')
	  AND finished_at <= $1 AND (finished_at < $1 OR id < $2)
	ORDER BY finished_at DESC, id DESC LIMIT $3`
	// runningPageSQL: earliest lease expiry first, through tasks_lease.
	runningPageSQL = `SELECT %s FROM tasks
	WHERE state = 'running' AND lease_until >= $1 AND (lease_until > $1 OR id > $2)
	ORDER BY lease_until, id LIMIT $3`
	// queuedPageSQL: the claim's order (priority, due time, id), through tasks_due.
	queuedPageSQL = `SELECT %s FROM tasks
	WHERE state = 'queued' AND priority <= $1
	  AND (priority < $1 OR run_at > $2 OR (run_at = $2 AND id > $3))
	ORDER BY priority DESC, run_at, id LIMIT $4`
)

// TasksPage returns up to limit tasks (0: queue.DefaultPageSize) in state
// st, after the cursor, as queue.Store.TasksPage: finished tasks newest
// first, running ones by lease expiry, queued ones in the order they will
// be claimed.
func (s *Store) TasksPage(ctx context.Context, st queue.State, after queue.Cursor, limit int) (queue.Page, error) {
	if _, err := queue.ParseState(string(st)); err != nil {
		return queue.Page{}, wrap("list tasks", err)
	}
	if limit <= 0 {
		limit = queue.DefaultPageSize
	}
	var (
		q    string
		args []any
		key  func(queue.Task) queue.Cursor
	)
	switch st {
	case queue.Queued:
		pr, at, id := int64(after.Priority), after.Key, after.ID
		if after.IsZero() {
			pr, at, id = math.MaxInt64, math.MinInt64, math.MinInt64
		}
		q, args = fmt.Sprintf(queuedPageSQL, listColumns), []any{pr, at, id, limit + 1}
		key = func(t queue.Task) queue.Cursor {
			return queue.Cursor{Priority: t.Priority, Key: ms(t.RunAt), ID: t.ID}
		}
	case queue.Running:
		at, id := after.Key, after.ID
		if after.IsZero() {
			at, id = math.MinInt64, math.MinInt64
		}
		q, args = fmt.Sprintf(runningPageSQL, listColumns), []any{at, id, limit + 1}
		key = func(t queue.Task) queue.Cursor { return queue.Cursor{Key: ms(t.LeaseUntil), ID: t.ID} }
	default:
		at, id := after.Key, after.ID
		if after.IsZero() {
			at, id = math.MaxInt64, math.MaxInt64
		}
		q, args = fmt.Sprintf(finishedPageSQL, listColumns), []any{at, id, limit + 1, string(st)}
		key = func(t queue.Task) queue.Cursor { return queue.Cursor{Key: ms(t.FinishedAt), ID: t.ID} }
	}
	page, err := readPage(ctx, s.pool, q, args, limit, key)
	return page, wrap(fmt.Sprintf("list %s tasks", st), err)
}
