package queue

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/sluicehq/sluice/schedule"
)

// Errors about schedules, for errors.Is.
var (
	ErrScheduleNotFound = errors.New("schedule not found")
	ErrScheduleExists   = errors.New("a schedule with this name already exists")
	ErrInvalidSchedule  = errors.New("invalid schedule")
)

// ErrUnknownZone marks a stored zone this system cannot load (its time zone
// database lacks it); see Schedule.Err.
var ErrUnknownZone = errors.New("unknown time zone")

// Source says who manages a schedule.
type Source string

const (
	// SourceCLI schedules are made with `sluice schedule add` or AddSchedule,
	// and only go away when removed by hand.
	SourceCLI Source = "cli"
	// SourceEnv schedules are declared in SLUICE_SCHEDULES; SyncSchedules
	// adds, updates and removes them to match the declaration.
	SourceEnv Source = "env"
)

// ScheduleParams describes a schedule to add. Name, Job and Spec are required.
type ScheduleParams struct {
	Name        string
	Job         string
	Payload     json.RawMessage // JSON copied into every task; empty means {}
	Queue       string          // default DefaultQueue
	Priority    int
	MaxAttempts int           // 0: the worker's default
	Timeout     time.Duration // 0: the worker's default

	// Spec says when the schedule is due. A nil Location means UTC. A zero
	// Start means now (for cron: no lower bound). Start is truncated to the
	// second.
	Spec schedule.Spec

	// Repeats is how many runs the schedule makes in all; 0 means forever.
	// The command line and SLUICE_SCHEDULES take Django-Q2's -1 for
	// forever and refuse an explicit 0, which Django-Q2 reads as "stopped":
	// see docs/django.md.
	Repeats int
	// CatchUp says what to fire for due times missed while nothing ran;
	// empty means schedule.CatchUpOne.
	CatchUp schedule.CatchUp
	// NoOverlap skips a due time while the task of the previous run is still
	// queued or running.
	NoOverlap bool

	Source Source // empty means SourceCLI
	// Definition is the declaration a SourceEnv schedule came from; SyncSchedules
	// leaves a schedule whose Definition is unchanged alone.
	Definition string
}

// Validate checks p and fills in defaults, with now for a zero Start,
// returning ErrInvalidSchedule with every problem. Both stores call it.
func (p *ScheduleParams) Validate(now time.Time) error {
	var problems []string
	switch {
	case strings.TrimSpace(p.Name) == "":
		problems = append(problems, "name is empty")
	case len(p.Name) > 200:
		problems = append(problems, "name is longer than 200 bytes")
	case strings.ContainsFunc(p.Name, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }):
		problems = append(problems, fmt.Sprintf("name %q contains spaces or control characters", p.Name))
	}
	task := EnqueueParams{Job: p.Job, Payload: p.Payload, Queue: p.Queue, Priority: p.Priority,
		MaxAttempts: p.MaxAttempts, Timeout: p.Timeout}
	if err := task.Validate(); err != nil {
		problems = append(problems, strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": "))
	}
	p.Payload, p.Queue = task.Payload, task.Queue
	if p.Spec.Location == nil {
		p.Spec.Location = time.UTC
	}
	if p.Spec.Start.IsZero() && p.Spec.StartsNow() {
		p.Spec.Start = now
	}
	p.Spec.Start = p.Spec.Start.Truncate(time.Second)
	if err := p.Spec.Validate(); err != nil {
		problems = append(problems, err.Error())
	}
	if p.Repeats < 0 {
		problems = append(problems, fmt.Sprintf("repeats %d is negative (0 means forever)", p.Repeats))
	}
	if p.CatchUp == "" {
		p.CatchUp = schedule.CatchUpOne
	} else if c, err := schedule.ParseCatchUp(string(p.CatchUp)); err != nil {
		problems = append(problems, err.Error())
	} else {
		p.CatchUp = c
	}
	switch p.Source {
	case "":
		p.Source = SourceCLI
	case SourceCLI, SourceEnv:
	default:
		problems = append(problems, fmt.Sprintf("unknown source %q", p.Source))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w %q: %s", ErrInvalidSchedule, p.Name, strings.Join(problems, "; "))
	}
	return nil
}

// FirstRun is the first due time of a new schedule: Start itself when it is
// now or later, else the first due time after now (past times are not
// fired). A once schedule whose Start has passed is due at once, as
// Django-Q2 runs it: it would never run otherwise.
func FirstRun(spec schedule.Spec, now time.Time) time.Time {
	if spec.Type == schedule.Once && !spec.Start.After(now) {
		return spec.Start
	}
	ref := now.Truncate(time.Second)
	if spec.Start.After(ref) {
		ref = spec.Start
	}
	return spec.Next(ref.Add(-time.Nanosecond))
}

// Schedule is a stored schedule and its firing state.
type Schedule struct {
	ID          int64
	Name        string
	Job         string
	Payload     json.RawMessage
	Queue       string
	Priority    int
	MaxAttempts int
	Timeout     time.Duration
	Spec        schedule.Spec
	Repeats     int       // runs left: -1 forever
	NextRun     time.Time // zero: no more runs
	LastRun     time.Time // intended time of the latest run fired; zero: none yet
	LastTaskID  int64
	Enabled     bool
	CatchUp     schedule.CatchUp
	NoOverlap   bool
	Source      Source
	Definition  string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	// Err is set when this system cannot compute the stored schedule: its
	// zone (or a cron line's CRON_TZ zone) is missing from the time zone
	// database, say. Spec.Location is then UTC and the times are shown in
	// UTC; FireDue pauses such a schedule instead of firing it, and
	// ResumeSchedule refuses it.
	Err error
}

// ScheduleColumns are the schedules columns ScanSchedule reads, in SQL
// both engines take, so each store selects them with its own statements.
const ScheduleColumns = `id, name, job, payload, queue, priority, coalesce(max_attempts, 0), coalesce(timeout_ms, 0),
    type, every, cron, zone, start_at, repeats, coalesce(next_run_at, 0), coalesce(last_run_at, 0),
    coalesce(last_task_id, 0), enabled, catch_up, no_overlap, source, coalesce(definition, ''), created_at, updated_at`

// ScanSchedule reads a row of ScheduleColumns (a *sql.Row, *sql.Rows, or
// pgx's rows: anything with Scan). A schedule this system cannot compute (a
// zone it cannot load) comes back with its Err set, so one bad row does not
// hide the others; the returned error is only for the read itself.
func ScanSchedule(row interface{ Scan(dest ...any) error }) (Schedule, error) {
	var (
		s                                   Schedule
		payload, typ, zone, catchUp, source string
		timeoutMS, start, next, last        int64
		created, updated                    int64
	)
	err := row.Scan(&s.ID, &s.Name, &s.Job, &payload, &s.Queue, &s.Priority, &s.MaxAttempts, &timeoutMS,
		&typ, &s.Spec.Every, &s.Spec.Cron, &zone, &start, &s.Repeats, &next, &last,
		&s.LastTaskID, &s.Enabled, &catchUp, &s.NoOverlap, &source, &s.Definition, &created, &updated)
	if err != nil {
		return s, err
	}
	s.Payload = json.RawMessage(payload)
	s.Timeout = time.Duration(timeoutMS) * time.Millisecond
	s.Spec.Type = schedule.Type(typ)
	if s.Spec.Type != schedule.Cron {
		s.Spec.Clock, s.Spec.Cron = s.Spec.Cron, "" // see cronColumn
	}
	s.CatchUp, s.Source = schedule.CatchUp(catchUp), Source(source)
	s.NextRun, s.LastRun = fromMS(next), fromMS(last)
	s.CreatedAt, s.UpdatedAt = fromMS(created), fromMS(updated)
	loc, err := time.LoadLocation(zone)
	if err != nil {
		s.Err = fmt.Errorf("schedule %q: %w %q: %v", s.Name, ErrUnknownZone, zone, err)
		loc = time.UTC
	}
	s.Spec.Location = loc
	if start != 0 {
		s.Spec.Start = time.UnixMilli(start).In(loc)
	}
	if s.Err == nil {
		if err := s.Spec.Validate(); err != nil { // a CRON_TZ zone this system lacks
			s.Err = fmt.Errorf("schedule %q: %w", s.Name, err)
		}
	}
	// Times in the zone they are due in: a cron line's CRON_TZ, if any.
	shown := loc
	if s.Err == nil {
		shown = s.Spec.Zone()
	}
	if !s.NextRun.IsZero() {
		s.NextRun = s.NextRun.In(shown)
	}
	if !s.LastRun.IsZero() {
		s.LastRun = s.LastRun.In(shown)
	}
	return s, nil
}

// AddSchedule stores a new schedule and returns it. Its first run is
// p.Spec.Start if that is now or later, else the first due time after now.
func (s *Store) AddSchedule(ctx context.Context, p ScheduleParams) (Schedule, error) {
	now := s.now()
	if err := p.Validate(now); err != nil {
		return Schedule{}, wrap("add schedule", err)
	}
	tx, err := s.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return Schedule{}, wrap("add schedule", err)
	}
	defer tx.Rollback()
	id, err := insertSchedule(ctx, tx, p, now)
	if err != nil {
		return Schedule{}, fmt.Errorf("add schedule %q: %w", p.Name, err)
	}
	sc, err := ScanSchedule(tx.QueryRowContext(ctx, "SELECT "+ScheduleColumns+" FROM schedules WHERE id = ?", id))
	if err != nil {
		return Schedule{}, fmt.Errorf("add schedule %q: %w", p.Name, err)
	}
	return sc, wrap("add schedule", tx.Commit())
}

func insertSchedule(ctx context.Context, tx *sql.Tx, p ScheduleParams, now time.Time) (int64, error) {
	var exists bool
	if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM schedules WHERE name = ?)", p.Name).Scan(&exists); err != nil {
		return 0, err
	}
	if exists {
		return 0, ErrScheduleExists
	}
	repeats := -1
	if p.Repeats > 0 {
		repeats = p.Repeats
	}
	res, err := tx.ExecContext(ctx, `
INSERT INTO schedules (name, job, payload, queue, priority, max_attempts, timeout_ms, type, every, cron, zone,
    start_at, repeats, next_run_at, enabled, catch_up, no_overlap, source, definition, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?)`,
		p.Name, p.Job, string(p.Payload), p.Queue, p.Priority, nullInt(int64(p.MaxAttempts)), nullInt(p.Timeout.Milliseconds()),
		string(p.Spec.Type), p.Spec.Every, cronColumn(p.Spec), p.Spec.Location.String(), startMS(p.Spec), repeats,
		nullMS(FirstRun(p.Spec, now)), string(p.CatchUp), p.NoOverlap, string(p.Source), nullString(p.Definition),
		now.UnixMilli(), now.UnixMilli())
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// cronColumn is what the cron column holds: a cron schedule's line, or the
// wall-clock time of day a daily or longer schedule keeps when its start
// does not show it (Spec.Clock, after a start in a daylight saving gap).
// One column for both saves a migration; the type tells them apart.
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
func (s *Store) GetSchedule(ctx context.Context, name string) (Schedule, error) {
	var sc Schedule
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		var err error
		sc, err = ScanSchedule(tx.QueryRowContext(ctx, "SELECT "+ScheduleColumns+" FROM schedules WHERE name = ?", name))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return Schedule{}, fmt.Errorf("get schedule %q: %w", name, ErrScheduleNotFound)
	}
	return sc, wrap(fmt.Sprintf("get schedule %q", name), err)
}

// ListSchedules returns every schedule, by name. A schedule this system
// cannot compute is listed with its Err set.
func (s *Store) ListSchedules(ctx context.Context) ([]Schedule, error) {
	var out []Schedule
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, "SELECT "+ScheduleColumns+" FROM schedules ORDER BY name")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			sc, err := ScanSchedule(rows)
			if err != nil {
				return err
			}
			out = append(out, sc)
		}
		return rows.Err()
	})
	return out, wrap("list schedules", err)
}

// RemoveSchedule deletes the schedule called name. Tasks it already made stay.
func (s *Store) RemoveSchedule(ctx context.Context, name string) error {
	res, err := s.db.Write.ExecContext(ctx, "DELETE FROM schedules WHERE name = ?", name)
	if err != nil {
		return fmt.Errorf("remove schedule %q: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("remove schedule %q: %w", name, ErrScheduleNotFound)
	}
	return nil
}

// PauseSchedule stops the schedule called name from firing until resumed.
func (s *Store) PauseSchedule(ctx context.Context, name string) error {
	res, err := s.db.Write.ExecContext(ctx, "UPDATE schedules SET enabled = 0, updated_at = ? WHERE name = ?",
		s.now().UnixMilli(), name)
	if err != nil {
		return fmt.Errorf("pause schedule %q: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("pause schedule %q: %w", name, ErrScheduleNotFound)
	}
	return nil
}

// ResumeSchedule lets a paused schedule fire again. Due times that passed
// while it was paused are skipped, whatever its catch-up policy: its next
// run is its first due time after now.
func (s *Store) ResumeSchedule(ctx context.Context, name string) (Schedule, error) {
	tx, err := s.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return Schedule{}, wrap("resume schedule", err)
	}
	defer tx.Rollback()
	sc, err := ScanSchedule(tx.QueryRowContext(ctx, "SELECT "+ScheduleColumns+" FROM schedules WHERE name = ?", name))
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrScheduleNotFound
	}
	if err == nil {
		err = sc.Err
	}
	if err != nil {
		return Schedule{}, fmt.Errorf("resume schedule %q: %w", name, err)
	}
	now := s.now()
	next := sc.NextRun
	if !sc.Enabled && !next.IsZero() && !next.After(now) {
		next = sc.Spec.Next(now)
	}
	if _, err := tx.ExecContext(ctx, "UPDATE schedules SET enabled = 1, next_run_at = ?, updated_at = ? WHERE id = ?",
		nullMS(next), now.UnixMilli(), sc.ID); err != nil {
		return Schedule{}, fmt.Errorf("resume schedule %q: %w", name, err)
	}
	if err := tx.Commit(); err != nil {
		return Schedule{}, fmt.Errorf("resume schedule %q: %w", name, err)
	}
	sc.Enabled, sc.NextRun = true, next
	return sc, nil
}

// SyncResult names the schedules SyncSchedules changed.
type SyncResult struct {
	Added, Updated, Removed []string
}

// SyncSchedules makes the SourceEnv schedules match ps, in one transaction:
// a new name is added; a name whose Definition changed is updated (its next
// run recomputed when its timing changed, its remaining repeats reset);
// an unchanged one is left alone, with its firing state and a pause made
// with the CLI; SourceEnv schedules missing from ps are removed (their tasks
// stay). SourceCLI schedules are never touched: a name taken by one is an
// error wrapping ErrScheduleExists.
func (s *Store) SyncSchedules(ctx context.Context, ps []ScheduleParams) (SyncResult, error) {
	var res SyncResult
	now := s.now()
	startless := make([]bool, len(ps))
	for i := range ps {
		startless[i] = ps[i].Spec.Start.IsZero()
		ps[i].Source = SourceEnv
		if err := ps[i].Validate(now); err != nil {
			return res, wrap("sync schedules", err)
		}
	}
	tx, err := s.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return res, wrap("sync schedules", err)
	}
	defer tx.Rollback()
	existing := map[string]Schedule{}
	rows, err := tx.QueryContext(ctx, "SELECT "+ScheduleColumns+" FROM schedules")
	if err != nil {
		return res, wrap("sync schedules", err)
	}
	for rows.Next() {
		sc, err := ScanSchedule(rows)
		if err != nil {
			rows.Close()
			return res, wrap("sync schedules", err)
		}
		existing[sc.Name] = sc
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return res, wrap("sync schedules", err)
	}

	listed := map[string]bool{}
	for i, p := range ps {
		if listed[p.Name] {
			return res, fmt.Errorf("sync schedules: %w %q: the name is declared twice", ErrInvalidSchedule, p.Name)
		}
		listed[p.Name] = true
		old, ok := existing[p.Name]
		switch {
		case !ok:
			if _, err := insertSchedule(ctx, tx, p, now); err != nil {
				return res, fmt.Errorf("sync schedules: add %q: %w", p.Name, err)
			}
			res.Added = append(res.Added, p.Name)
		case old.Source != SourceEnv:
			return res, fmt.Errorf("sync schedules: %q: %w (made with the CLI; remove it or rename the declared one)",
				p.Name, ErrScheduleExists)
		case old.Definition != p.Definition:
			if err := updateSchedule(ctx, tx, old, p, startless[i], now); err != nil {
				return res, fmt.Errorf("sync schedules: update %q: %w", p.Name, err)
			}
			res.Updated = append(res.Updated, p.Name)
		}
	}
	for name, old := range existing {
		if old.Source == SourceEnv && !listed[name] {
			if _, err := tx.ExecContext(ctx, "DELETE FROM schedules WHERE id = ?", old.ID); err != nil {
				return res, fmt.Errorf("sync schedules: remove %q: %w", name, err)
			}
			res.Removed = append(res.Removed, name)
		}
	}
	return res, wrap("sync schedules", tx.Commit())
}

// updateSchedule rewrites old's definition with p. A declaration without a
// start keeps the stored one, so editing a payload does not move due times.
func updateSchedule(ctx context.Context, tx *sql.Tx, old Schedule, p ScheduleParams, keepStart bool, now time.Time) error {
	if keepStart && (!old.Spec.Start.IsZero() || p.Spec.Type == schedule.Cron) {
		p.Spec.Start = old.Spec.Start
	}
	next := old.NextRun
	timing := p.Spec.Type != old.Spec.Type || p.Spec.Every != old.Spec.Every || cronColumn(p.Spec) != cronColumn(old.Spec) ||
		p.Spec.Location.String() != old.Spec.Location.String() || startMS(p.Spec) != startMS(old.Spec)
	if timing {
		next = FirstRun(p.Spec, now)
	}
	repeats := -1
	if p.Repeats > 0 {
		repeats = p.Repeats
	}
	_, err := tx.ExecContext(ctx, `
UPDATE schedules SET job = ?, payload = ?, queue = ?, priority = ?, max_attempts = ?, timeout_ms = ?, type = ?,
    every = ?, cron = ?, zone = ?, start_at = ?, repeats = ?, next_run_at = ?, catch_up = ?, no_overlap = ?,
    definition = ?, updated_at = ?
WHERE id = ?`,
		p.Job, string(p.Payload), p.Queue, p.Priority, nullInt(int64(p.MaxAttempts)), nullInt(p.Timeout.Milliseconds()),
		string(p.Spec.Type), p.Spec.Every, cronColumn(p.Spec), p.Spec.Location.String(), startMS(p.Spec), repeats,
		nullMS(next), string(p.CatchUp), p.NoOverlap, p.Definition, now.UnixMilli(), old.ID)
	return err
}
