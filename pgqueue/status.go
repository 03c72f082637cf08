package pgqueue

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/queue"
)

// snapshot is a read-only transaction that sees one moment of the database.
var snapshot = pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}

// Statements of Status.
const (
	statusCountsSQL = `SELECT queue, state, count(*) FROM tasks GROUP BY queue, state ORDER BY queue`
	statusOldestSQL = `SELECT queue, min(run_at) FROM tasks WHERE state = 'queued' AND run_at <= $1 GROUP BY queue`
	statusRunSQL    = "SELECT " + listColumns + ` FROM tasks WHERE state = 'running' ORDER BY started_at, id LIMIT $1`
	// failuresSQL counts failures since $1 and since $2 (earlier), up to $3.
	failuresSQL = `SELECT count(*) FILTER (WHERE finished_at >= $1), count(*)
		FROM tasks WHERE state = 'failed' AND finished_at >= $2 AND finished_at <= $3`
)

// donePerMinuteSQL counts tasks finished in each minute from $1 to $2.
var donePerMinuteSQL = `SELECT (finished_at - $1) / 60000, count(*) FROM (` +
	eachFinishedState(`SELECT finished_at FROM tasks WHERE state = '%s' AND finished_at >= $1 AND finished_at < $2`) +
	`) f GROUP BY 1`

// Status reads the queue's state at the store's clock, in one snapshot.
func (s *Store) Status(ctx context.Context) (queue.Status, error) {
	var st queue.Status
	err := pgx.BeginTxFunc(ctx, s.pool, snapshot, func(tx pgx.Tx) error {
		now, err := s.readNow(ctx, tx)
		if err != nil {
			return err
		}
		st = queue.Status{Now: now}
		if err := statusQueues(ctx, tx, &st); err != nil {
			return err
		}
		st.Activity, err = readActivity(ctx, tx, now)
		return err
	})
	return st, wrap("read status", err)
}

// readActivity reads the running tasks, the failures of the hour and the
// day before now, and what finished in each minute of the hour, in tx
// (Status and Overview both show them).
func readActivity(ctx context.Context, tx pgx.Tx, now time.Time) (queue.Activity, error) {
	var a queue.Activity
	rows, err := tx.Query(ctx, statusRunSQL, queue.StatusRunningLimit)
	if err != nil {
		return a, err
	}
	if a.Running, err = collectTasks(rows, true); err != nil {
		return a, err
	}
	nowMS := now.UnixMilli()
	hour, day := nowMS-time.Hour.Milliseconds(), nowMS-24*time.Hour.Milliseconds()
	if err := tx.QueryRow(ctx, failuresSQL, hour, day, nowMS).Scan(&a.FailedLastHour, &a.FailedLastDay); err != nil {
		return a, err
	}
	rows, err = tx.Query(ctx, donePerMinuteSQL, hour, nowMS)
	if err != nil {
		return a, err
	}
	var minute, n int
	_, err = pgx.ForEachRow(rows, []any{&minute, &n}, func() error {
		if minute >= 0 && minute < len(a.DonePerMinute) {
			a.DonePerMinute[minute] = n
		}
		return nil
	})
	return a, err
}

// statusQueues fills st.Queues: counts by state and the oldest due task.
func statusQueues(ctx context.Context, tx pgx.Tx, st *queue.Status) error {
	byQueue := map[string]int{}
	rows, err := tx.Query(ctx, statusCountsSQL)
	if err != nil {
		return err
	}
	var (
		q, state string
		n        int
	)
	_, err = pgx.ForEachRow(rows, []any{&q, &state, &n}, func() error {
		i, ok := byQueue[q]
		if !ok {
			i = len(st.Queues)
			byQueue[q] = i
			st.Queues = append(st.Queues, queue.QueueStatus{Queue: q, Counts: zeroCounts()})
		}
		st.Queues[i].Counts[queue.State(state)] += n
		return nil
	})
	if err != nil {
		return err
	}
	rows, err = tx.Query(ctx, statusOldestSQL, st.Now.UnixMilli())
	if err != nil {
		return err
	}
	var runAt int64
	_, err = pgx.ForEachRow(rows, []any{&q, &runAt}, func() error {
		if i, ok := byQueue[q]; ok {
			st.Queues[i].OldestDue = fromMS(runAt)
		}
		return nil
	})
	return err
}

// statsSQL reads only unfinished rows, so its cost follows the backlog.
const statsSQL = `
SELECT queue, sum(due)::bigint, sum(later)::bigint, sum(running)::bigint, coalesce(min(run_at) FILTER (WHERE due = 1), 0)
FROM (
    SELECT queue, (run_at <= $1)::int AS due, (run_at > $1)::int AS later, 0 AS running, run_at
    FROM tasks WHERE state = 'queued'
    UNION ALL
    SELECT queue, 0, 0, 1, NULL FROM tasks WHERE state = 'running'
) u
GROUP BY queue
ORDER BY queue`

// Stats returns the backlog of every queue that has queued or running tasks,
// sorted by queue name, as of the store's clock.
func (s *Store) Stats(ctx context.Context) ([]queue.QueueStats, error) {
	var out []queue.QueueStats
	err := pgx.BeginTxFunc(ctx, s.pool, snapshot, func(tx pgx.Tx) error {
		now, err := s.readNow(ctx, tx)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, statsSQL, now.UnixMilli())
		if err != nil {
			return err
		}
		var (
			q      queue.QueueStats
			oldest int64
		)
		_, err = pgx.ForEachRow(rows, []any{&q.Queue, &q.Due, &q.Scheduled, &q.Running, &oldest}, func() error {
			q.OldestDue, q.Wait = fromMS(oldest), 0
			if !q.OldestDue.IsZero() {
				q.Wait = max(now.Sub(q.OldestDue), 0)
			}
			out = append(out, q)
			return nil
		})
		return err
	})
	return out, wrap("queue stats", err)
}
