package queue

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/schedule"
)

// Firing is what one schedule did in FireDue.
type Firing struct {
	Schedule string
	Times    []time.Time // intended due times fired, oldest first; each has one task
	TaskIDs  []int64     // the tasks, in the order of Times
	// Dropped counts due times that made no task: missed times the catch-up
	// policy passed over, times beyond the repeats left, and times skipped
	// because the previous run was still queued or running (NoOverlap).
	Dropped int
	// Overlap is set when a due time was skipped for NoOverlap.
	Overlap bool
	// Err is set when the stored schedule could not be computed (an unknown
	// zone, say); the schedule is paused so it stops coming due.
	Err error
}

// FireDue fires every enabled schedule whose next run is due: for each, it
// inserts one task per due time its catch-up policy picks and moves its next
// run past now. All of it happens in one write transaction, and each
// schedule's update is guarded by the next run it was read with
// (compare-and-set), so however many processes fire at once, each due time
// yields exactly one task. When nothing is due it only reads.
func (s *Store) FireDue(ctx context.Context) ([]Firing, error) {
	now := s.now()
	var earliest sql.NullInt64
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, nextScheduleSQL).Scan(&earliest)
	})
	if err != nil {
		return nil, wrap("fire schedules", err)
	}
	if !earliest.Valid || earliest.Int64 > now.UnixMilli() {
		return nil, nil
	}

	tx, err := s.db.Write.BeginTx(ctx, nil) // BEGIN IMMEDIATE: one firer at a time
	if err != nil {
		return nil, wrap("fire schedules", err)
	}
	defer tx.Rollback()
	now = s.now() // the lock may have taken a while
	due, err := dueSchedules(ctx, tx, now)
	if err != nil {
		return nil, wrap("fire schedules", err)
	}
	var out []Firing
	inserted := false
	for _, d := range due {
		f, err := fire(ctx, tx, d, now)
		if err != nil {
			return nil, fmt.Errorf("fire schedule %q: %w", d.name, err)
		}
		if f != nil {
			out = append(out, *f)
			inserted = inserted || len(f.TaskIDs) > 0
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, wrap("fire schedules", err)
	}
	if inserted {
		s.notify()
	}
	return out, nil
}

const nextScheduleSQL = `SELECT min(next_run_at) FROM schedules WHERE enabled = 1 AND next_run_at IS NOT NULL`

// dueRow is a due schedule as read inside the firing transaction.
type dueRow struct {
	Schedule
	name   string
	nextMS int64
}

func dueSchedules(ctx context.Context, tx *sql.Tx, now time.Time) ([]dueRow, error) {
	rows, err := tx.QueryContext(ctx, "SELECT "+ScheduleColumns+` FROM schedules
WHERE enabled = 1 AND next_run_at IS NOT NULL AND next_run_at <= ? ORDER BY next_run_at, id`, now.UnixMilli())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var due []dueRow
	for rows.Next() {
		sc, err := ScanSchedule(rows)
		if err != nil {
			return nil, err
		}
		due = append(due, dueRow{Schedule: sc, name: sc.Name, nextMS: sc.NextRun.UnixMilli()})
	}
	return due, rows.Err()
}

// fire fires one due schedule inside tx. It returns nil when another firer
// moved the schedule first.
func fire(ctx context.Context, tx *sql.Tx, d dueRow, now time.Time) (*Firing, error) {
	f := &Firing{Schedule: d.name}
	if d.Err != nil {
		// Paused, not deleted: the operator sees it and can fix the zone.
		res, err := tx.ExecContext(ctx, "UPDATE schedules SET enabled = 0, updated_at = ? WHERE id = ? AND enabled = 1 AND next_run_at = ?",
			now.UnixMilli(), d.ID, d.nextMS)
		if err != nil {
			return nil, err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil, nil // another firer paused it first
		}
		f.Err = d.Err
		return f, nil
	}
	plan, err := PlanFiring(d.Schedule, now, func() (bool, error) { return taskActive(ctx, tx, d.LastTaskID) })
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
	res, err := tx.ExecContext(ctx, `
UPDATE schedules SET next_run_at = ?, last_run_at = coalesce(?, last_run_at), repeats = ?, updated_at = ?
WHERE id = ? AND enabled = 1 AND next_run_at = ?`,
		nullMS(after), last, repeats, now.UnixMilli(), d.ID, d.nextMS)
	if err != nil {
		return nil, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, nil
	}
	for _, t := range times {
		id, err := insertScheduled(ctx, tx, d.Schedule, t, now)
		if err != nil {
			return nil, err
		}
		f.TaskIDs = append(f.TaskIDs, id)
	}
	if len(f.TaskIDs) > 0 {
		if _, err := tx.ExecContext(ctx, "UPDATE schedules SET last_task_id = ? WHERE id = ?",
			f.TaskIDs[len(f.TaskIDs)-1], d.ID); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// FiringPlan is what firing one due schedule does, the same in every store:
// the due times that get a task, where the schedule's next run and repeats
// move, and what the Firing reports.
type FiringPlan struct {
	Times   []time.Time // due times to enqueue, oldest first
	Next    time.Time   // the new next_run_at; zero when the schedule has ended
	Repeats int         // the runs left after these; negative: no limit
	Dropped int         // see Firing.Dropped
	Overlap bool        // see Firing.Overlap
}

// PlanFiring plans firing sc, due at sc.NextRun, at now: the times its
// catch-up policy picks, none while its last task is still active for a
// NoOverlap schedule (only the latest otherwise: its runs must not overlap
// each other either), and no more than its repeats left. active reports
// whether sc's last task is queued or running; it is asked only for a
// NoOverlap schedule with something due.
func PlanFiring(sc Schedule, now time.Time, active func() (bool, error)) (FiringPlan, error) {
	times, next := sc.Spec.Due(sc.NextRun, now, sc.CatchUp, schedule.DueOpts{})
	p := FiringPlan{Next: next, Repeats: sc.Repeats}
	missed := countMissed(sc.Spec, sc.NextRun, now)
	if sc.NoOverlap && len(times) > 0 {
		busy, err := active()
		if err != nil {
			return p, err
		}
		if busy {
			times, p.Overlap = nil, true
		} else {
			times = times[len(times)-1:]
		}
	}
	if p.Repeats >= 0 {
		if len(times) > p.Repeats {
			// The runs left are the next ones: the earliest missed times
			// (the schedule ends after them, so later ones never come).
			times = times[:p.Repeats]
		}
		p.Repeats -= len(times)
		if p.Repeats == 0 {
			p.Next = time.Time{}
		}
	}
	p.Times = times
	p.Dropped = max(missed-len(times), 0)
	return p, nil
}

// countMissed counts the due times in [next, now], up to 1000, so a
// schedule idle for years costs little.
func countMissed(spec schedule.Spec, next, now time.Time) int {
	const limit = 1000
	n := 0
	for t := next; !t.IsZero() && !t.After(now) && n < limit; t = spec.Next(t) {
		n++
	}
	return n
}

// taskActive reports whether task id is queued or running.
func taskActive(ctx context.Context, tx *sql.Tx, id int64) (bool, error) {
	if id == 0 {
		return false, nil
	}
	var active bool
	err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM tasks WHERE id = ? AND state IN ('queued', 'running'))", id).Scan(&active)
	return active, err
}

const insertScheduledSQL = `
INSERT INTO tasks (job, payload, queue, priority, run_at, created_at, max_attempts, timeout_ms, schedule_id, scheduled_for)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// insertScheduled adds the task of one due time. It runs now; the intended
// time goes to scheduled_for.
func insertScheduled(ctx context.Context, tx *sql.Tx, sc Schedule, at, now time.Time) (int64, error) {
	res, err := tx.ExecContext(ctx, insertScheduledSQL, sc.Job, string(sc.Payload), sc.Queue, sc.Priority,
		now.UnixMilli(), now.UnixMilli(), nullInt(int64(sc.MaxAttempts)), nullInt(sc.Timeout.Milliseconds()),
		sc.ID, at.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("insert task: %w", err)
	}
	return res.LastInsertId()
}

// nextWakeupSQL finds the earliest queued run_at without reading the whole
// backlog: tasks_due is ordered by priority first, so it walks the distinct
// priorities of queued tasks (one index seek each, a recursive CTE being
// SQLite's skip scan) and takes the first run_at within each. A run_at that
// is not a time wakes the loop at once (the claim takes it: see claimSQL); a
// lease that is not a time is left out (it would wake the loop for ever, or
// fail the read): the next claim takes it back if its worker is not
// registered (recoverExpiredSQL), and a registered worker keeps it.
var nextWakeupSQL = `
WITH RECURSIVE p(pr) AS (
    SELECT max(priority) FROM tasks INDEXED BY tasks_due WHERE state = 'queued'
    UNION ALL
    SELECT (SELECT max(priority) FROM tasks INDEXED BY tasks_due WHERE state = 'queued' AND priority < p.pr)
    FROM p WHERE p.pr IS NOT NULL
)
SELECT %[2]s FROM (
    SELECT (SELECT min(run_at) FROM tasks INDEXED BY tasks_due WHERE state = 'queued' AND priority = p.pr %[1]s) AS v
    FROM p WHERE p.pr IS NOT NULL
    UNION ALL SELECT min(lease_until) FROM tasks WHERE state = 'running' AND lease_until <= ` + maxMSText + `
    UNION ALL SELECT min(heartbeat_at + stale_ms) FROM workers
    UNION ALL ` + nextScheduleSQL + `)`

// NextWakeup returns the earliest time at which a run loop serving queues
// (empty: all) has something to do: a queued task becomes due, a running
// task's lease expires, a worker's heartbeat goes stale (its tasks can be
// taken back), or an enabled schedule comes due. It returns the zero
// time when none of these is pending.
func (s *Store) NextWakeup(ctx context.Context, queues []string) (time.Time, error) {
	q := nextWakeupSQL
	var args []any
	if len(queues) > 0 {
		qs, _ := json.Marshal(queues)
		q = fmt.Sprintf(q, "AND queue IN (SELECT value FROM json_each(?1))", sinceDue("min(v)"))
		args = append(args, string(qs))
	} else {
		q = fmt.Sprintf(q, "", sinceDue("min(v)"))
	}
	var v sql.NullInt64
	err := s.readTx(ctx, func(tx *sql.Tx) error { return tx.QueryRowContext(ctx, q, args...).Scan(&v) })
	if err != nil || !v.Valid {
		return time.Time{}, wrap("next wakeup", err)
	}
	return fromMS(v.Int64), nil
}

// Enqueued returns a channel that is closed the next time this Store adds
// tasks: Enqueue, EnqueueMany, EnqueueTx (at the insert: the caller's commit
// follows on the one writer connection, so a claim that wakes on it waits
// for that commit) and FireDue. Tasks inserted by other processes do not
// close it; run loops poll for those.
func (s *Store) Enqueued() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.enqueued == nil {
		s.enqueued = make(chan struct{})
	}
	return s.enqueued
}

// notify wakes whoever waits on Enqueued.
func (s *Store) notify() {
	s.mu.Lock()
	if s.enqueued != nil {
		close(s.enqueued)
		s.enqueued = nil
	}
	s.mu.Unlock()
}
