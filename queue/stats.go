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

// statsSQL reads only unfinished rows (the tasks_state index's prefix), so
// its cost follows the backlog, not the finished history.
const statsSQL = `
SELECT queue,
       count(*) FILTER (WHERE state = 'queued' AND run_at <= ?1),
       count(*) FILTER (WHERE state = 'queued' AND run_at > ?1),
       count(*) FILTER (WHERE state = 'running'),
       coalesce(min(run_at) FILTER (WHERE state = 'queued' AND run_at <= ?1), 0)
FROM tasks
WHERE state IN ('queued', 'running')
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
