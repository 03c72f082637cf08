package queue

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"time"
)

// Overview is what the web overview shows, read in one snapshot. Every part
// reads through an index whose size follows the backlog or the recent
// history (the last day), never the whole finished history.
type Overview struct {
	Now    time.Time
	Queues []QueueOverview // by name: queues with a backlog or a task finished in the last hour
	Activity
}

// DoneLastHour is the sum of DonePerMinute: the throughput of the last hour.
func (o Overview) DoneLastHour() int {
	n := 0
	for _, v := range o.DonePerMinute {
		n += v
	}
	return n
}

// QueueOverview is one queue's backlog and the tasks it finished in the last hour.
type QueueOverview struct {
	QueueStats
	// LastHour counts the queue's tasks that reached each final state in
	// the hour before Now. (An hour, not a day: the count reads each task's
	// row for its queue, and a busy day holds too many.)
	LastHour map[State]int
}

// finishedByQueueSQL counts, per queue and final state, the tasks finished
// from ?1 to ?2 (the tasks_state index's range).
const finishedByQueueSQL = `SELECT queue, state, count(*) FROM tasks
	WHERE ` + finishedStates + ` AND finished_at >= ?1 AND finished_at <= ?2
	GROUP BY queue, state`

// Overview reads the queue's backlog, its recent throughput and failures,
// and its running tasks, at the store's clock.
func (s *Store) Overview(ctx context.Context) (Overview, error) {
	now := s.now()
	nowMS := now.UnixMilli()
	hour := nowMS - time.Hour.Milliseconds()
	o := Overview{Now: now}
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		byQueue := map[string]int{}
		queue := func(name string) *QueueOverview {
			i, ok := byQueue[name]
			if !ok {
				i = len(o.Queues)
				byQueue[name] = i
				o.Queues = append(o.Queues, QueueOverview{QueueStats: QueueStats{Queue: name}, LastHour: map[State]int{}})
			}
			return &o.Queues[i]
		}
		err := eachRow(ctx, tx, statsSQL, []any{nowMS}, func(rows *sql.Rows) error {
			var st QueueStats
			var oldest int64
			if err := rows.Scan(&st.Queue, &st.Due, &st.Scheduled, &st.Running, &oldest); err != nil {
				return err
			}
			st.OldestDue = fromMS(oldest)
			if !st.OldestDue.IsZero() {
				st.Wait = max(now.Sub(st.OldestDue), 0)
			}
			queue(st.Queue).QueueStats = st
			return nil
		})
		if err != nil {
			return err
		}
		err = eachRow(ctx, tx, finishedByQueueSQL, []any{hour, nowMS}, func(rows *sql.Rows) error {
			var (
				name, state string
				n           int
			)
			if err := rows.Scan(&name, &state, &n); err != nil {
				return err
			}
			queue(name).LastHour[State(state)] = n
			return nil
		})
		if err != nil {
			return err
		}
		sortQueues(o.Queues)
		o.Activity, err = readActivity(ctx, tx, now)
		return err
	})
	return o, wrap("read overview", err)
}

// readActivity reads the running tasks, the failures of the hour and the
// day before now, and what finished in each minute of the hour, in tx.
func readActivity(ctx context.Context, tx *sql.Tx, now time.Time) (Activity, error) {
	var a Activity
	err := eachRow(ctx, tx, "SELECT "+listColumns+" FROM tasks WHERE state = 'running' ORDER BY started_at, id LIMIT ?",
		[]any{StatusRunningLimit}, func(rows *sql.Rows) error {
			t, err := scanTask(rows)
			if err != nil {
				return err
			}
			t.Payload = nil
			a.Running = append(a.Running, t)
			return nil
		})
	if err != nil {
		return a, err
	}
	nowMS := now.UnixMilli()
	hour, day := nowMS-time.Hour.Milliseconds(), nowMS-24*time.Hour.Milliseconds()
	if err := tx.QueryRowContext(ctx, failuresSQL, hour, day, nowMS).Scan(&a.FailedLastHour, &a.FailedLastDay); err != nil {
		return a, err
	}
	err = eachRow(ctx, tx, donePerMinuteSQL, []any{hour, nowMS}, func(rows *sql.Rows) error {
		var minute, n int
		if err := rows.Scan(&minute, &n); err != nil {
			return err
		}
		if minute >= 0 && minute < len(a.DonePerMinute) {
			a.DonePerMinute[minute] = n
		}
		return nil
	})
	return a, err
}

// sortQueues orders queues by name.
func sortQueues(qs []QueueOverview) {
	slices.SortFunc(qs, func(a, b QueueOverview) int { return strings.Compare(a.Queue, b.Queue) })
}

// eachRow runs query in tx and calls fn for each row.
func eachRow(ctx context.Context, tx *sql.Tx, query string, args []any, fn func(*sql.Rows) error) error {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
