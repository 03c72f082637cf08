package queue

import (
	"context"
	"database/sql"
	"time"
)

// StatusRunningLimit caps the running tasks a Status lists (all are counted).
const StatusRunningLimit = 20

// Status is a snapshot of the whole queue, taken in one read transaction.
type Status struct {
	Now    time.Time
	Queues []QueueStatus // by name
	Activity
}

// Activity is what Status and Overview both show beside their queues: what
// runs now, and what finished before Now.
type Activity struct {
	// Running lists the running tasks that started first, up to StatusRunningLimit,
	// with their worker and lease (no payload, result or history).
	Running []Task
	// FailedLastHour and FailedLastDay count tasks that ended failed in the
	// hour and the day before Now.
	FailedLastHour int
	FailedLastDay  int
	// DonePerMinute counts tasks that reached a final state in each of the 60
	// minutes before Now, oldest minute first.
	DonePerMinute [60]int
}

// QueueStatus counts one queue's tasks by state.
type QueueStatus struct {
	Queue  string
	Counts map[State]int // every state is present
	// OldestDue is the run_at of the queue's longest-waiting due task; zero when none is due.
	OldestDue time.Time
}

// Wait is how long the queue's oldest due task has waited at now; 0 when none is due.
func (q QueueStatus) Wait(now time.Time) time.Duration {
	if q.OldestDue.IsZero() {
		return 0
	}
	return max(now.Sub(q.OldestDue), 0)
}

// Statements of Status over finished tasks, through the tasks_state index.
const (
	// failuresSQL counts failures since ?1 and since ?2 (earlier), up to ?3.
	failuresSQL = `SELECT count(*) FILTER (WHERE finished_at >= ?1), count(*)
		FROM tasks WHERE state = 'failed' AND finished_at >= ?2 AND finished_at <= ?3`
	// donePerMinuteSQL counts tasks finished in each minute from ?1 to ?2.
	donePerMinuteSQL = `SELECT CAST((finished_at - ?1) / 60000 AS INTEGER), count(*) FROM tasks
		WHERE ` + finishedStates + ` AND finished_at >= ?1 AND finished_at < ?2
		GROUP BY 1`
)

// Status reads the queue's state at the store's clock.
func (s *Store) Status(ctx context.Context) (Status, error) {
	now := s.now()
	st := Status{Now: now}
	nowMS := now.UnixMilli()
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		byQueue := map[string]int{}
		rows, err := tx.QueryContext(ctx, `SELECT queue, state, count(*) FROM tasks GROUP BY queue, state ORDER BY queue`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var (
				q, state string
				n        int
			)
			if err := rows.Scan(&q, &state, &n); err != nil {
				rows.Close()
				return err
			}
			i, ok := byQueue[q]
			if !ok {
				i = len(st.Queues)
				byQueue[q] = i
				st.Queues = append(st.Queues, QueueStatus{Queue: q, Counts: zeroCounts()})
			}
			st.Queues[i].Counts[State(state)] += n
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}

		rows, err = tx.QueryContext(ctx, `SELECT queue, CAST(min(run_at) AS INTEGER) FROM tasks
			WHERE state = 'queued' AND run_at <= ? GROUP BY queue`, nowMS)
		if err != nil {
			return err
		}
		for rows.Next() {
			var (
				q     string
				runAt int64
			)
			if err := rows.Scan(&q, &runAt); err != nil {
				rows.Close()
				return err
			}
			if i, ok := byQueue[q]; ok {
				st.Queues[i].OldestDue = fromMS(runAt)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}

		st.Activity, err = readActivity(ctx, tx, now)
		return err
	})
	return st, wrap("read status", err)
}
