package queue

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sluicehq/sluice/sqlitewal"
)

// ClaimParams says which tasks a worker wants and how to lease them.
type ClaimParams struct {
	Worker string   // identifies the claiming process; outcomes must come from it
	Limit  int      // at most this many tasks; 0 claims nothing
	Queues []string // serve only these queues; empty serves all

	// Defaults for tasks stored without their own values.
	DefaultTimeout     time.Duration
	DefaultMaxAttempts int
	// LeaseMargin is added to a task's timeout to make its lease: the time
	// after which another worker may take the task over.
	LeaseMargin time.Duration
}

// Kind is what an outcome does to its task.
type Kind int

const (
	// Succeed ends the task succeeded with Result.
	Succeed Kind = iota
	// Fail records a failed attempt. With RetryAt set the task is queued again
	// for then; otherwise it ends failed.
	Fail
	// Release puts the task back to queued without counting the attempt
	// (shutdown before or during the run). Error notes why, in the history.
	Release
	// Cancel ends the task cancelled.
	Cancel
)

// Outcome is the result of one attempt, written back by Exchange.
type Outcome struct {
	ID        int64
	Attempt   int // the attempt number the claim returned; fences stale writers
	Kind      Kind
	StartedAt time.Time
	Duration  time.Duration
	Result    []byte
	Error     string
	RetryAt   time.Time // Fail only: when to run again; zero ends the task failed
	// Label is the history's word for the attempt: "timeout", "panic", ...
	// Empty means the default for Kind.
	Label string
	// Processes is what the attempt's processes did, when a supervisor
	// measured it (exec jobs, process-isolated handlers); nil otherwise.
	Processes *ProcessStats
}

// ExchangeResult tells what Exchange did.
type ExchangeResult struct {
	Claimed []Task
	// Stale lists outcomes that were not written because the task was no
	// longer running under this worker's lease (it expired or was cancelled).
	Stale []Outcome
	// Recovered counts running tasks of dead workers whose leases had expired.
	Recovered int
}

// Exchange writes outcomes and claims up to p.Limit due tasks in one write
// transaction, so a busy worker pays for one commit per batch. Before
// claiming it recovers tasks whose lease expired: each such task has its
// attempt counted, and ends failed when it has no attempts left.
//
// It runs on the driver's direct API (sqlitewal.DB.Raw) with statements
// compiled once: for these small statements database/sql's own work per call
// was about a sixth of an exchange.
func (s *Store) Exchange(ctx context.Context, outcomes []Outcome, p ClaimParams) (ExchangeResult, error) {
	var (
		res    ExchangeResult
		called bool
	)
	err := s.db.Raw(ctx, func(c *sqlitewal.Conn) error {
		called = true
		if err := c.Exec("BEGIN IMMEDIATE"); err != nil {
			return wrap("begin exchange", err)
		}
		now := s.now()
		var err error
		if len(outcomes) > 0 {
			if res.Stale, err = writeOutcomes(c, p.Worker, outcomes, now); err != nil {
				return err
			}
		}
		if p.Limit > 0 {
			if res.Recovered, err = recoverLeases(c, now, p.DefaultMaxAttempts); err != nil {
				return err
			}
			if res.Claimed, err = claim(c, now, p); err != nil {
				return err
			}
		}
		return wrap("commit exchange", c.Exec("COMMIT")) // sqlitewal.DB.Raw rolls back if it failed
	})
	switch {
	case err == nil:
		return res, nil
	case !called: // no writer connection
		err = wrap("begin exchange", err)
	case ctx.Err() != nil && !errors.Is(err, ctx.Err()):
		err = fmt.Errorf("%w (%w)", err, ctx.Err()) // interrupted: say why
	}
	return ExchangeResult{}, err
}

const outcomeSQL = `
UPDATE tasks SET
    state       = ?1,
    result      = ?2,
    error       = CASE WHEN ?1 = 'succeeded' THEN NULL WHEN ?3 IS NULL THEN error ELSE ?3 END,
    run_at      = coalesce(?4, run_at),
    finished_at = ?5,
    duration_ms = ?6,
    attempt     = attempt - ?7,
    lease_until = NULL,
    worker      = NULL,
    history     = json_insert(history, '$[#]', json_patch(json_object(
                      'attempt', attempt, 'outcome', ?8, 'started_at', ?9, 'duration_ms', ?6, 'error', ?3),
                      json_object('leftover', ?13, 'peak_rss', ?14))) -- a NULL leaves the key out
WHERE id = ?10 AND attempt = ?11 AND state = 'running' AND worker = ?12`

// writeOutcomes applies outcomes; those whose task left this worker's lease are returned as stale.
func writeOutcomes(c *sqlitewal.Conn, worker string, outcomes []Outcome, now time.Time) ([]Outcome, error) {
	st, err := c.Prepared(outcomeSQL)
	if err != nil {
		return nil, wrap("write outcomes", err)
	}
	var stale []Outcome
	for _, o := range outcomes {
		var (
			state    State
			result   any
			runAt    any
			finished any
			uncharge int
			label    = o.Label
		)
		switch o.Kind {
		case Succeed:
			state, result, finished = Succeeded, string(o.Result), now.UnixMilli()
			if label == "" {
				label = "succeeded"
			}
		case Fail:
			if o.RetryAt.IsZero() {
				state, finished = Failed, now.UnixMilli()
			} else {
				state, runAt = Queued, o.RetryAt.UnixMilli()
			}
			if label == "" {
				label = "failed"
			}
		case Release:
			state, runAt, uncharge = Queued, now.UnixMilli(), 1
			if label == "" {
				label = "released"
			}
		case Cancel:
			state, finished = Cancelled, now.UnixMilli()
			if label == "" {
				label = "cancelled"
			}
		default:
			return nil, fmt.Errorf("write outcome of task %d: unknown kind %d", o.ID, o.Kind)
		}
		var leftover, peakRSS any
		if p := o.Processes; p != nil {
			leftover, peakRSS = p.Leftover, p.PeakRSS
		}
		err := bind(st, string(state), result, nullString(o.Error), runAt, finished,
			o.Duration.Milliseconds(), uncharge, label, ms(o.StartedAt), o.ID, o.Attempt, worker, leftover, peakRSS)
		if err == nil {
			err = st.Exec()
		}
		if err != nil {
			return nil, fmt.Errorf("write outcome of task %d: %w", o.ID, err)
		}
		if c.Changes() == 0 {
			stale = append(stale, o)
		}
	}
	// A result can be a MiB of text; don't keep it bound until the next exchange.
	if err := st.ClearBindings(); err != nil {
		return nil, fmt.Errorf("write outcomes: %w", err)
	}
	return stale, nil
}

// LeaseExpiredError is the error recorded for an attempt whose worker vanished.
const LeaseExpiredError = "lease expired: the worker running this attempt disappeared (killed, crashed or lost its database) before recording an outcome"

const recoverSQL = `
UPDATE tasks SET
    state       = CASE WHEN attempt >= coalesce(max_attempts, ?2) THEN 'failed' ELSE 'queued' END,
    finished_at = CASE WHEN attempt >= coalesce(max_attempts, ?2) THEN ?1 END,
    run_at      = ?1,
    error       = ?3,
    lease_until = NULL,
    worker      = NULL,
    history     = json_insert(history, '$[#]', json_object(
                      'attempt', attempt, 'outcome', 'lease_expired', 'started_at', started_at,
                      'duration_ms', ?1 - started_at, 'error', ?3))
WHERE state = 'running' AND lease_until <= ?1` // seeks tasks_lease

func recoverLeases(c *sqlitewal.Conn, now time.Time, defaultMax int) (int, error) {
	st, err := c.Prepared(recoverSQL)
	if err == nil {
		err = bind(st, now.UnixMilli(), max(defaultMax, 1), LeaseExpiredError)
	}
	if err == nil {
		err = st.Exec()
	}
	if err != nil {
		return 0, wrap("recover expired leases", err)
	}
	return int(c.Changes()), nil
}

// claimSQL takes due tasks in priority, run_at, id order (served by the
// tasks_due index) and leases them, in one statement.
//
// The limit is written ?5 + 0, not ?5: SQLite recompiles a statement whose
// bare LIMIT parameter is bound to a new value, and a worker sizes every
// claim by demand, so a bare ?5 cost a compile per exchange.
const claimSQL = `
UPDATE tasks SET
    state       = 'running',
    attempt     = attempt + 1,
    worker      = ?1,
    started_at  = ?2,
    lease_until = ?2 + coalesce(timeout_ms, ?3) + ?4
WHERE id IN (
    SELECT id FROM tasks INDEXED BY tasks_due
    WHERE state = 'queued' AND run_at <= ?2 %[1]s
    ORDER BY priority DESC, run_at, id
    LIMIT ?5 + 0)
RETURNING id, job, CASE WHEN octet_length(payload) <= %[2]d THEN payload END, queue, priority, attempt,
          coalesce(max_attempts, ?6), coalesce(timeout_ms, ?3), task_group, run_at, created_at, lease_until,
          coalesce(schedule_id, 0), coalesce(scheduled_for, 0), octet_length(payload)`

var (
	claimAllSQL    = fmt.Sprintf(claimSQL, "", MaxPayload)
	claimQueuesSQL = fmt.Sprintf(claimSQL, "AND queue IN (SELECT value FROM json_each(?7))", MaxPayload)
)

func claim(c *sqlitewal.Conn, now time.Time, p ClaimParams) ([]Task, error) {
	args := []any{p.Worker, now.UnixMilli(), p.DefaultTimeout.Milliseconds(), p.LeaseMargin.Milliseconds(),
		p.Limit, max(p.DefaultMaxAttempts, 1)}
	q := claimAllSQL
	if len(p.Queues) > 0 {
		qs, _ := json.Marshal(p.Queues)
		args = append(args, string(qs))
		q = claimQueuesSQL
	}
	st, err := c.Prepared(q)
	if err == nil {
		err = bind(st, args...)
	}
	if err != nil {
		return nil, wrap("claim tasks", err)
	}
	tasks := make([]Task, 0, p.Limit)
	for st.Step() {
		tasks = append(tasks, Task{
			ID:           st.ColumnInt64(0),
			Job:          st.ColumnText(1),
			Payload:      json.RawMessage(st.ColumnText(2)),
			Queue:        st.ColumnText(3),
			Priority:     st.ColumnInt(4),
			State:        Running,
			Attempt:      st.ColumnInt(5),
			MaxAttempts:  st.ColumnInt(6),
			Timeout:      time.Duration(st.ColumnInt64(7)) * time.Millisecond,
			Group:        st.ColumnText(8), // NULL reads as ""
			RunAt:        fromMS(st.ColumnInt64(9)),
			CreatedAt:    fromMS(st.ColumnInt64(10)),
			StartedAt:    now,
			LeaseUntil:   fromMS(st.ColumnInt64(11)),
			Worker:       p.Worker,
			ScheduleID:   st.ColumnInt64(12),
			ScheduledFor: fromMS(st.ColumnInt64(13)),
			PayloadBytes: st.ColumnInt(14),
		})
		if t := &tasks[len(tasks)-1]; t.PayloadBytes > MaxPayload {
			t.Payload = nil // left out by the claim (see Task.PayloadBytes)
		}
	}
	// Err first: a Step refused because ctx ended (INTERRUPT) never reached
	// SQLite, so Reset, which returns SQLite's error, does not report it.
	err = st.Err()
	if rerr := st.Reset(); err == nil {
		err = rerr
	}
	if err != nil {
		return nil, wrap("claim tasks", err)
	}
	// RETURNING gives no order; run them in the order the claim chose.
	slices.SortFunc(tasks, func(a, b Task) int {
		if a.Priority != b.Priority {
			return b.Priority - a.Priority
		}
		if c := a.RunAt.Compare(b.RunAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return tasks, nil
}
