package pgqueue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/schedule"
)

// collectSchedules scans rows of queue.ScheduleColumns.
func collectSchedules(rows pgx.Rows) ([]queue.Schedule, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (queue.Schedule, error) { return queue.ScanSchedule(row) })
}

// AddSchedule stores a new schedule and returns it. Its first run is
// p.Spec.Start if that is now or later, else the first due time after now.
func (s *Store) AddSchedule(ctx context.Context, p queue.ScheduleParams) (queue.Schedule, error) {
	now, err := s.readNow(ctx, s.pool)
	if err != nil {
		return queue.Schedule{}, wrap("add schedule", err)
	}
	if err := p.Validate(now); err != nil {
		return queue.Schedule{}, wrap("add schedule", err)
	}
	var sc queue.Schedule
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		id, err := insertSchedule(ctx, tx, p, now)
		if err != nil {
			return err
		}
		sc, err = queue.ScanSchedule(tx.QueryRow(ctx, "SELECT "+queue.ScheduleColumns+" FROM schedules WHERE id = $1", id))
		return err
	})
	if err != nil {
		return queue.Schedule{}, fmt.Errorf("add schedule %q: %w", p.Name, err)
	}
	return sc, nil
}

func insertSchedule(ctx context.Context, tx pgx.Tx, p queue.ScheduleParams, now time.Time) (int64, error) {
	repeats := -1
	if p.Repeats > 0 {
		repeats = p.Repeats
	}
	// ON CONFLICT: a name taken, even by a schedule committed a moment ago by
	// another process, is ErrScheduleExists, not a failed transaction.
	var id int64
	err := tx.QueryRow(ctx, `
INSERT INTO schedules (name, job, payload, queue, priority, max_attempts, timeout_ms, type, every, cron, zone,
    start_at, repeats, next_run_at, enabled, catch_up, no_overlap, source, definition, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, true, $15, $16, $17, $18, $19, $19)
ON CONFLICT (name) DO NOTHING
RETURNING id`,
		p.Name, p.Job, string(p.Payload), p.Queue, p.Priority, nullInt(int64(p.MaxAttempts)), nullInt(p.Timeout.Milliseconds()),
		string(p.Spec.Type), p.Spec.Every, cronColumn(p.Spec), p.Spec.Location.String(), startMS(p.Spec), repeats,
		nullMS(queue.FirstRun(p.Spec, now)), string(p.CatchUp), p.NoOverlap, string(p.Source), nullString(p.Definition),
		now.UnixMilli()).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, queue.ErrScheduleExists
	}
	return id, err
}

// cronColumn is what the cron column holds: a cron line, or the time of
// day a daily or longer schedule keeps (Spec.Clock), as queue stores it.
func cronColumn(spec schedule.Spec) string {
	if spec.Type == schedule.Cron {
		return spec.Cron
	}
	return spec.Clock
}

// startMS stores a cron schedule's zero Start as 0 (no lower bound).
func startMS(spec schedule.Spec) int64 {
	if spec.Start.IsZero() {
		return 0
	}
	return spec.Start.UnixMilli()
}

// GetSchedule returns the schedule called name.
func (s *Store) GetSchedule(ctx context.Context, name string) (queue.Schedule, error) {
	sc, err := queue.ScanSchedule(s.pool.QueryRow(ctx, "SELECT "+queue.ScheduleColumns+" FROM schedules WHERE name = $1", name))
	if errors.Is(err, pgx.ErrNoRows) {
		return queue.Schedule{}, fmt.Errorf("get schedule %q: %w", name, queue.ErrScheduleNotFound)
	}
	return sc, wrap(fmt.Sprintf("get schedule %q", name), err)
}

// ListSchedules returns every schedule, by name. A schedule this system
// cannot compute is listed with its Err set.
func (s *Store) ListSchedules(ctx context.Context) ([]queue.Schedule, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+queue.ScheduleColumns+" FROM schedules ORDER BY name")
	if err != nil {
		return nil, wrap("list schedules", err)
	}
	out, err := collectSchedules(rows)
	return out, wrap("list schedules", err)
}

// RemoveSchedule deletes the schedule called name. Tasks it already made stay.
func (s *Store) RemoveSchedule(ctx context.Context, name string) error {
	tag, err := s.pool.Exec(ctx, "DELETE FROM schedules WHERE name = $1", name)
	if err == nil && tag.RowsAffected() == 0 {
		err = queue.ErrScheduleNotFound
	}
	return wrap(fmt.Sprintf("remove schedule %q", name), err)
}

// PauseSchedule stops the schedule called name from firing until resumed.
func (s *Store) PauseSchedule(ctx context.Context, name string) error {
	tag, err := s.pool.Exec(ctx, "UPDATE schedules SET enabled = false, updated_at = "+nowParam(2)+" WHERE name = $1",
		name, s.nowArg())
	if err == nil && tag.RowsAffected() == 0 {
		err = queue.ErrScheduleNotFound
	}
	return wrap(fmt.Sprintf("pause schedule %q", name), err)
}

// ResumeSchedule lets a paused schedule fire again. Due times that passed
// while it was paused are skipped, whatever its catch-up policy: its next
// run is its first due time after now.
func (s *Store) ResumeSchedule(ctx context.Context, name string) (queue.Schedule, error) {
	var sc queue.Schedule
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		sc, err = queue.ScanSchedule(tx.QueryRow(ctx, "SELECT "+queue.ScheduleColumns+" FROM schedules WHERE name = $1 FOR UPDATE", name))
		if errors.Is(err, pgx.ErrNoRows) {
			err = queue.ErrScheduleNotFound
		}
		if err == nil {
			err = sc.Err
		}
		if err != nil {
			return err
		}
		now, err := s.readNow(ctx, tx)
		if err != nil {
			return err
		}
		next := sc.NextRun
		if !sc.Enabled && !next.IsZero() && !next.After(now) {
			next = sc.Spec.Next(now)
		}
		_, err = tx.Exec(ctx, "UPDATE schedules SET enabled = true, next_run_at = $1, updated_at = $2 WHERE id = $3",
			nullMS(next), now.UnixMilli(), sc.ID)
		sc.Enabled, sc.NextRun = true, next
		return err
	})
	if err != nil {
		return queue.Schedule{}, fmt.Errorf("resume schedule %q: %w", name, err)
	}
	return sc, nil
}

// SyncSchedules makes the SourceEnv schedules match ps, in one transaction:
// a new name is added; a name whose Definition changed is updated (its next
// run recomputed when its timing changed, its remaining repeats reset);
// an unchanged one is left alone, with its firing state and a pause made
// with the CLI; SourceEnv schedules missing from ps are removed (their tasks
// stay). SourceCLI schedules are never touched: a name taken by one is an
// error wrapping queue.ErrScheduleExists. Processes syncing at once take
// turns (an advisory lock held for the transaction, syncLock), and each
// locks the rows it reads: it waits for a firer that holds one, reads the
// next run that firer moved, and firers skip the rows it holds. Locking the
// table instead deadlocked with FireDue (row locks first, then the table's
// ROW EXCLUSIVE lock for its update) and with ResumeSchedule.
func (s *Store) SyncSchedules(ctx context.Context, ps []queue.ScheduleParams) (queue.SyncResult, error) {
	var res queue.SyncResult
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", syncLock); err != nil {
			return err
		}
		now, err := s.readNow(ctx, tx)
		if err != nil {
			return err
		}
		res, err = syncSchedules(ctx, tx, ps, now)
		return err
	})
	if err != nil {
		return queue.SyncResult{}, wrap("sync schedules", err)
	}
	return res, nil
}

func syncSchedules(ctx context.Context, tx pgx.Tx, ps []queue.ScheduleParams, now time.Time) (queue.SyncResult, error) {
	var res queue.SyncResult
	startless := make([]bool, len(ps))
	for i := range ps {
		startless[i] = ps[i].Spec.Start.IsZero()
		ps[i].Source = queue.SourceEnv
		if err := ps[i].Validate(now); err != nil {
			return res, err
		}
	}
	// Every row (CLI ones are only read, but are names to check).
	rows, err := tx.Query(ctx, "SELECT "+queue.ScheduleColumns+" FROM schedules ORDER BY id FOR UPDATE")
	if err != nil {
		return res, err
	}
	all, err := collectSchedules(rows)
	if err != nil {
		return res, err
	}
	existing := map[string]queue.Schedule{}
	for _, sc := range all {
		existing[sc.Name] = sc
	}
	listed := map[string]bool{}
	for i, p := range ps {
		if listed[p.Name] {
			return res, fmt.Errorf("%w %q: the name is declared twice", queue.ErrInvalidSchedule, p.Name)
		}
		listed[p.Name] = true
		old, ok := existing[p.Name]
		switch {
		case !ok:
			if _, err := insertSchedule(ctx, tx, p, now); err != nil {
				return res, fmt.Errorf("add %q: %w", p.Name, err)
			}
			res.Added = append(res.Added, p.Name)
		case old.Source != queue.SourceEnv:
			return res, fmt.Errorf("%q: %w (made with the CLI; remove it or rename the declared one)",
				p.Name, queue.ErrScheduleExists)
		case old.Definition != p.Definition:
			if err := updateSchedule(ctx, tx, old, p, startless[i], now); err != nil {
				return res, fmt.Errorf("update %q: %w", p.Name, err)
			}
			res.Updated = append(res.Updated, p.Name)
		}
	}
	for _, old := range all {
		if old.Source == queue.SourceEnv && !listed[old.Name] {
			if _, err := tx.Exec(ctx, "DELETE FROM schedules WHERE id = $1", old.ID); err != nil {
				return res, fmt.Errorf("remove %q: %w", old.Name, err)
			}
			res.Removed = append(res.Removed, old.Name)
		}
	}
	return res, nil
}

// updateSchedule rewrites old's definition with p. A declaration without a
// start keeps the stored one, so editing a payload does not move due times.
func updateSchedule(ctx context.Context, tx pgx.Tx, old queue.Schedule, p queue.ScheduleParams, keepStart bool, now time.Time) error {
	if keepStart && (!old.Spec.Start.IsZero() || p.Spec.Type == schedule.Cron) {
		p.Spec.Start = old.Spec.Start
	}
	next := old.NextRun
	timing := p.Spec.Type != old.Spec.Type || p.Spec.Every != old.Spec.Every || cronColumn(p.Spec) != cronColumn(old.Spec) ||
		p.Spec.Location.String() != old.Spec.Location.String() || startMS(p.Spec) != startMS(old.Spec)
	if timing {
		next = queue.FirstRun(p.Spec, now)
	}
	repeats := -1
	if p.Repeats > 0 {
		repeats = p.Repeats
	}
	_, err := tx.Exec(ctx, `
UPDATE schedules SET job = $1, payload = $2, queue = $3, priority = $4, max_attempts = $5, timeout_ms = $6, type = $7,
    every = $8, cron = $9, zone = $10, start_at = $11, repeats = $12, next_run_at = $13, catch_up = $14, no_overlap = $15,
    definition = $16, updated_at = $17
WHERE id = $18`,
		p.Job, string(p.Payload), p.Queue, p.Priority, nullInt(int64(p.MaxAttempts)), nullInt(p.Timeout.Milliseconds()),
		string(p.Spec.Type), p.Spec.Every, cronColumn(p.Spec), p.Spec.Location.String(), startMS(p.Spec), repeats,
		nullMS(next), string(p.CatchUp), p.NoOverlap, p.Definition, now.UnixMilli(), old.ID)
	return err
}
