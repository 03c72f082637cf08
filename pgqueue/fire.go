package pgqueue

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/queue"
)

// nextScheduleSQL reads the earliest enabled due time and the clock.
var nextScheduleSQL = `SELECT min(next_run_at), ` + nowParam(1) + ` FROM schedules WHERE enabled AND next_run_at IS NOT NULL`

// FireDue fires every enabled schedule whose next run is due: for each, it
// inserts one task per due time its catch-up policy picks and moves its next
// run past now, in one transaction. Each schedule's update is guarded by the
// next run it was read with (compare-and-set), and its row is locked while
// it fires (firers on other machines skip it), so however many processes
// fire at once, each due time yields exactly one task. When nothing is due
// it only reads.
func (s *Store) FireDue(ctx context.Context) ([]queue.Firing, error) {
	var earliest *int64
	var nowMS int64
	if err := s.pool.QueryRow(ctx, nextScheduleSQL, s.nowArg()).Scan(&earliest, &nowMS); err != nil {
		return nil, wrap("fire schedules", err)
	}
	if earliest == nil || *earliest > nowMS {
		return nil, nil
	}
	var out []queue.Firing
	inserted := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		now, err := s.readNow(ctx, tx)
		if err != nil {
			return err
		}
		due, err := dueSchedules(ctx, tx, now)
		if err != nil {
			return err
		}
		for _, d := range due {
			f, err := fire(ctx, tx, d, now)
			if err != nil {
				return fmt.Errorf("schedule %q: %w", d.Name, err)
			}
			if f != nil {
				out = append(out, *f)
				inserted = inserted || len(f.TaskIDs) > 0
			}
		}
		return nil
	})
	if err != nil {
		return nil, wrap("fire schedules", err)
	}
	if inserted {
		s.notify()
	}
	return out, nil
}

// dueSchedules reads and locks the due schedules no other firer holds.
func dueSchedules(ctx context.Context, tx pgx.Tx, now time.Time) ([]queue.Schedule, error) {
	rows, err := tx.Query(ctx, "SELECT "+queue.ScheduleColumns+` FROM schedules
WHERE enabled AND next_run_at IS NOT NULL AND next_run_at <= $1 ORDER BY next_run_at, id
FOR UPDATE SKIP LOCKED`, now.UnixMilli())
	if err != nil {
		return nil, err
	}
	return collectSchedules(rows)
}

// fire fires one due schedule inside tx. It returns nil when another firer
// moved the schedule first.
func fire(ctx context.Context, tx pgx.Tx, d queue.Schedule, now time.Time) (*queue.Firing, error) {
	f := &queue.Firing{Schedule: d.Name}
	nextMS := d.NextRun.UnixMilli()
	if d.Err != nil {
		// Paused, not deleted: the operator sees it and can fix the zone.
		tag, err := tx.Exec(ctx, "UPDATE schedules SET enabled = false, updated_at = $1 WHERE id = $2 AND enabled AND next_run_at = $3",
			now.UnixMilli(), d.ID, nextMS)
		if err != nil || tag.RowsAffected() == 0 {
			return nil, err // nil, nil: another firer paused it first
		}
		f.Err = d.Err
		return f, nil
	}
	plan, err := queue.PlanFiring(d, now, func() (active bool, err error) {
		err = tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM tasks WHERE id = $1 AND state IN ('queued', 'running'))",
			d.LastTaskID).Scan(&active)
		return active, err
	})
	if err != nil {
		return nil, err
	}
	times, after, repeats := plan.Times, plan.Next, plan.Repeats
	f.Times, f.Dropped, f.Overlap = plan.Times, plan.Dropped, plan.Overlap
	var last any
	if len(times) > 0 {
		last = times[len(times)-1].UnixMilli()
	}
	// The compare-and-set: only the firer that read this next_run_at moves it.
	tag, err := tx.Exec(ctx, `
UPDATE schedules SET next_run_at = $1, last_run_at = coalesce($2, last_run_at), repeats = $3, updated_at = $4
WHERE id = $5 AND enabled AND next_run_at = $6`,
		nullMS(after), last, repeats, now.UnixMilli(), d.ID, nextMS)
	if err != nil || tag.RowsAffected() == 0 {
		return nil, err
	}
	for _, t := range times {
		var id int64
		err := tx.QueryRow(ctx, insertScheduledSQL, d.Job, string(d.Payload), d.Queue, d.Priority, now.UnixMilli(),
			nullInt(int64(d.MaxAttempts)), nullInt(d.Timeout.Milliseconds()), d.ID, t.UnixMilli()).Scan(&id)
		if err != nil {
			return nil, fmt.Errorf("insert task: %w", err)
		}
		f.TaskIDs = append(f.TaskIDs, id)
	}
	if len(f.TaskIDs) > 0 {
		if _, err := tx.Exec(ctx, "UPDATE schedules SET last_task_id = $1 WHERE id = $2",
			f.TaskIDs[len(f.TaskIDs)-1], d.ID); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// insertScheduledSQL adds the task of one due time: it runs now ($5); the
// intended time goes to scheduled_for.
const insertScheduledSQL = `
INSERT INTO tasks (job, payload, queue, priority, run_at, created_at, max_attempts, timeout_ms, schedule_id, scheduled_for)
VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8, $9)
RETURNING id`

// nextWakeupSQL finds the earliest queued run_at without reading the whole
// backlog: tasks_due is ordered by priority first, so it walks the distinct
// priorities of queued tasks (one index seek each: a loose index scan) and
// takes the first run_at within each. %[1]s filters by queue ($1). A lease
// past year 9999 is left out (it would never wake the loop): the next claim
// takes its task back if its worker is not registered.
const nextWakeupSQL = `
WITH RECURSIVE p(pr) AS (
    SELECT max(priority) FROM tasks WHERE state = 'queued'
    UNION ALL
    SELECT (SELECT max(priority) FROM tasks WHERE state = 'queued' AND priority < p.pr)
    FROM p WHERE p.pr IS NOT NULL
)
SELECT min(v) FROM (
    SELECT (SELECT min(run_at) FROM tasks WHERE state = 'queued' AND priority = p.pr %[1]s) AS v
    FROM p WHERE p.pr IS NOT NULL
    UNION ALL SELECT min(lease_until) FROM tasks WHERE state = 'running' AND lease_until <= %[2]d
    UNION ALL SELECT min(heartbeat_at + stale_ms) FROM workers
    UNION ALL SELECT min(next_run_at) FROM schedules WHERE enabled AND next_run_at IS NOT NULL
) u`

// NextWakeup returns the earliest time at which a run loop serving queues
// (empty: all) has something to do: a queued task becomes due, a running
// task's lease expires, a worker's heartbeat goes stale (its tasks can be
// taken back), or an enabled schedule comes due. It returns the zero
// time when none of these is pending.
func (s *Store) NextWakeup(ctx context.Context, queues []string) (time.Time, error) {
	q := fmt.Sprintf(nextWakeupSQL, "", maxMS)
	var args []any
	if len(queues) > 0 {
		q = fmt.Sprintf(nextWakeupSQL, "AND queue = ANY($1::text[])", maxMS)
		args = append(args, queues)
	}
	var v *int64
	if err := s.pool.QueryRow(ctx, q, args...).Scan(&v); err != nil || v == nil {
		return time.Time{}, wrap("next wakeup", err)
	}
	return fromMS(*v), nil
}
