package queue

import (
	"context"
	"database/sql"
	"time"
)

// QueueStats is the backlog of one queue at one moment.
type QueueStats struct {
	Queue     string
	Due       int           // queued tasks whose run_at has come: the queue's depth
	Scheduled int           // queued tasks not due yet (delayed, or waiting for a retry)
	Running   int           // tasks held by a worker
	OldestDue time.Time     // run_at of the longest-waiting due task; zero when none is due
	Wait      time.Duration // how long that task has waited past its run_at
}

// statsSQL reads only unfinished rows, queued ones through tasks_due and
// running ones through tasks_lease, so its cost follows the backlog, not the
// finished history.
const statsSQL = `
SELECT queue, sum(due), sum(later), sum(running), coalesce(CAST(min(run_at) FILTER (WHERE due) AS INTEGER), 0)
FROM (
    SELECT queue, run_at <= ?1 AS due, run_at > ?1 AS later, 0 AS running, run_at FROM tasks WHERE state = 'queued'
    UNION ALL
    SELECT queue, 0, 0, 1, NULL FROM tasks WHERE state = 'running'
)
GROUP BY queue
ORDER BY queue`

// Stats returns the backlog of every queue that has queued or running tasks,
// sorted by queue name, as of the store's clock. Metrics read it at scrape time.
func (s *Store) Stats(ctx context.Context) ([]QueueStats, error) {
	now := s.now()
	var out []QueueStats
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, statsSQL, now.UnixMilli())
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var q QueueStats
			var oldest int64
			if err := rows.Scan(&q.Queue, &q.Due, &q.Scheduled, &q.Running, &oldest); err != nil {
				return err
			}
			q.OldestDue = fromMS(oldest)
			if !q.OldestDue.IsZero() {
				q.Wait = max(now.Sub(q.OldestDue), 0)
			}
			out = append(out, q)
		}
		return rows.Err()
	})
	return out, wrap("queue stats", err)
}
