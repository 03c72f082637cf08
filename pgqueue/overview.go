package pgqueue

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/queue"
)

// finishedByQueueSQL counts, per queue and final state, the tasks finished
// from $1 to $2 (a range of tasks_state for each state).
var finishedByQueueSQL = `SELECT queue, state, count(*) FROM (` +
	eachFinishedState(`SELECT queue, state FROM tasks WHERE state = '%s' AND finished_at >= $1 AND finished_at <= $2`) +
	`) f GROUP BY queue, state`

// eachFinishedState joins the query sel about one final state (%s) with
// UNION ALL, once for each. Given the three states in one IN list,
// PostgreSQL drops the condition the partial index tasks_state implies and
// reads all of it (or the table); state by state, each part reads a range.
func eachFinishedState(sel string) string {
	parts := make([]string, 0, 3)
	for _, st := range []queue.State{queue.Succeeded, queue.Failed, queue.Cancelled} {
		parts = append(parts, fmt.Sprintf(sel, st))
	}
	return strings.Join(parts, "\nUNION ALL ")
}

// Overview reads the queue's backlog, its recent throughput and failures,
// and its running tasks, at the database's clock, in one snapshot, as
// queue.Store.Overview: every part reads through an index whose size
// follows the backlog or the last day, never the whole finished history.
func (s *Store) Overview(ctx context.Context) (queue.Overview, error) {
	var o queue.Overview
	err := pgx.BeginTxFunc(ctx, s.pool, snapshot, func(tx pgx.Tx) error {
		now, err := s.readNow(ctx, tx)
		if err != nil {
			return err
		}
		o = queue.Overview{Now: now}
		if err := overviewQueues(ctx, tx, &o); err != nil {
			return err
		}
		o.Activity, err = readActivity(ctx, tx, now)
		return err
	})
	return o, wrap("read overview", err)
}

// overviewQueues fills o.Queues, by name: each queue's backlog (statsSQL)
// and what it finished in the hour before o.Now.
func overviewQueues(ctx context.Context, tx pgx.Tx, o *queue.Overview) error {
	byQueue := map[string]int{}
	named := func(name string) *queue.QueueOverview {
		i, ok := byQueue[name]
		if !ok {
			i = len(o.Queues)
			byQueue[name] = i
			o.Queues = append(o.Queues, queue.QueueOverview{QueueStats: queue.QueueStats{Queue: name}, LastHour: map[queue.State]int{}})
		}
		return &o.Queues[i]
	}
	nowMS := o.Now.UnixMilli()
	rows, err := tx.Query(ctx, statsSQL, nowMS)
	if err != nil {
		return err
	}
	var (
		st     queue.QueueStats
		oldest int64
	)
	_, err = pgx.ForEachRow(rows, []any{&st.Queue, &st.Due, &st.Scheduled, &st.Running, &oldest}, func() error {
		st.OldestDue, st.Wait = fromMS(oldest), 0
		if !st.OldestDue.IsZero() {
			st.Wait = max(o.Now.Sub(st.OldestDue), 0)
		}
		named(st.Queue).QueueStats = st
		return nil
	})
	if err != nil {
		return err
	}
	rows, err = tx.Query(ctx, finishedByQueueSQL, nowMS-time.Hour.Milliseconds(), nowMS)
	if err != nil {
		return err
	}
	var (
		name, state string
		n           int
	)
	_, err = pgx.ForEachRow(rows, []any{&name, &state, &n}, func() error {
		named(name).LastHour[queue.State(state)] = n
		return nil
	})
	slices.SortFunc(o.Queues, func(a, b queue.QueueOverview) int { return strings.Compare(a.Queue, b.Queue) })
	return err
}
