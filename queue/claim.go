package queue

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
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
	// after which another worker may take the task over. Only an
	// unregistered worker's claims have leases.
	LeaseMargin time.Duration

	// Registered says Worker was registered with Store.Register. Exchange
	// then heartbeats it first, and its tasks are its own for as long as it
	// heartbeats: no lease, whatever their timeouts. When its registration
	// is gone (another worker judged it dead) Exchange does nothing else and
	// reports ExchangeResult.Lost. An unregistered worker's tasks are
	// recovered when their leases expire.
	Registered bool
	// Starts is how many of the claimed tasks start at once (there are idle
	// goroutines for them): they are marked started, and a recovery charges
	// their attempt. The others wait in the worker's prefetch unstarted until
	// Started names them. Unregistered claims are all marked started.
	Starts int
	// Started lists tasks claimed earlier, unstarted, that have started since.
	Started []int64
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
	// longer this worker's (another took it back, or it was cancelled).
	Stale []Outcome
	// Recovered counts running tasks taken back from dead workers (or from
	// unregistered ones whose leases had expired).
	Recovered int
	// Lost reports that the worker's registration was gone: another worker
	// judged it dead and took back every task it held. Nothing was written
	// or claimed; the caller must stop those attempts and register again.
	Lost bool
}

// Exchange heartbeats a registered worker, writes outcomes and claims up to
// p.Limit due tasks in one write transaction, so a busy worker pays for one
// commit per batch. Before claiming it recovers the tasks of dead workers
// (see recoverTasks).
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
		if p.Registered {
			if res.Lost, err = heartbeat(c, p, now); err != nil || res.Lost {
				return errors.Join(err, c.Exec("ROLLBACK"))
			}
		}
		if len(outcomes) > 0 {
			if res.Stale, err = writeOutcomes(c, p.Worker, outcomes, now); err != nil {
				return err
			}
		}
		if p.Limit > 0 {
			if res.Recovered, err = recoverTasks(c, now, p.DefaultMaxAttempts); err != nil {
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

var outcomeSQL = `
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
    history     = ` + appendHistory(`CASE WHEN ?13 IS NULL AND ?14 IS NULL
                      THEN json_object('attempt', attempt, 'outcome', ?8, 'started_at', ?9, 'duration_ms', ?6, 'error', ?3)
                      ELSE json_patch(json_object('attempt', attempt, 'outcome', ?8, 'started_at', ?9, 'duration_ms', ?6, 'error', ?3),
                                      json_object('leftover', ?13, 'peak_rss', ?14)) END`) + ` -- a NULL leaves the key out
WHERE id = ?10 AND attempt = ?11 AND state = 'running' AND worker = ?12`

// followUpSQL enqueues the follow-ups (tasks.follow_ups) of the tasks
// listed in ?1 (a JSON array of ids), which have just reached their final state: WhenSuccess ones if it succeeded,
// WhenDone ones whatever the state. It runs in the outcome's transaction.
// A spec another language stored badly is skipped or defaulted, never
// allowed to fail the batch (this process's writer skips the row rules).
var followUpSQL = `
INSERT INTO tasks (job, payload, queue, priority, run_at, created_at, max_attempts, timeout_ms, task_group, follow_ups)
SELECT f.value ->> 'job',
       CASE WHEN f.value ->> 'when' = '` + WhenDone + `' THEN
           json_set(CASE WHEN json_type(f.value, '$.payload') = 'object' THEN f.value -> 'payload' ELSE '{}' END,
                    '$.task', json_object('id', t.id, 'job', t.job, 'state', t.state,
                        'result', CASE WHEN json_valid(t.result) THEN json(t.result) ELSE t.result END,
                        'error', t.error, 'group', t.task_group))
       ELSE coalesce(f.value -> 'payload', '{}') END,
       CASE WHEN typeof(f.value ->> 'queue') = 'text' AND f.value ->> 'queue' <> '' THEN f.value ->> 'queue' ELSE '` + DefaultQueue + `' END,
       CASE WHEN typeof(f.value ->> 'priority') = 'integer' AND f.value ->> 'priority' >= 0 THEN f.value ->> 'priority' ELSE 0 END,
       ?2, ?2,
       CASE WHEN typeof(f.value ->> 'max_attempts') = 'integer' AND f.value ->> 'max_attempts' >= 1 THEN f.value ->> 'max_attempts' END,
       CASE WHEN typeof(f.value ->> 'timeout_ms') = 'integer' AND f.value ->> 'timeout_ms' BETWEEN 1 AND ` + fmt.Sprint(MaxTimeout.Milliseconds()) + `
            THEN f.value ->> 'timeout_ms' END,
       CASE WHEN typeof(f.value ->> 'group') = 'text' THEN f.value ->> 'group' END,
       CASE WHEN json_type(f.value, '$.then') = 'array' THEN f.value -> 'then' END
FROM tasks t, json_each(CASE WHEN json_valid(t.follow_ups) THEN CASE WHEN json_type(t.follow_ups) = 'array' THEN t.follow_ups END END) f
WHERE t.id IN (SELECT value FROM json_each(?1)) AND t.follow_ups IS NOT NULL
  AND CASE WHEN f.type = 'object' THEN -- an element of another type has no keys: reading one would fail the batch
      typeof(f.value ->> 'job') = 'text' AND f.value ->> 'job' <> ''
      AND (f.value ->> 'when' = '` + WhenDone + `' AND t.state IN ('succeeded', 'failed', 'cancelled')
           OR coalesce(f.value ->> 'when', '` + WhenSuccess + `') = '` + WhenSuccess + `' AND t.state = 'succeeded') END`

// failRowSQL ends a running task failed with ?4 as its error. writeOutcomes
// runs it when a task's outcome could not be written (its row holds what
// the statement cannot take): it sets only columns no rule checks, with
// values that keep every rule.
var failRowSQL = `
UPDATE tasks SET
    state       = 'failed',
    finished_at = ?5,
    error       = ?4,
    lease_until = NULL,
    worker      = NULL,
    history     = ` + appendHistory(`json_object('attempt', attempt, 'outcome', 'failed', 'error', ?4)`) + `
WHERE id = ?1 AND attempt = ?2 AND state = 'running' AND worker = ?3`

// writeOutcomes applies outcomes; those whose task left this worker's lease are returned as stale.
func writeOutcomes(c *sqlitewal.Conn, worker string, outcomes []Outcome, now time.Time) ([]Outcome, error) {
	st, err := c.Prepared(outcomeSQL)
	if err != nil {
		return nil, wrap("write outcomes", err)
	}
	var (
		stale       []Outcome
		finishedIDs []int64 // written in a final state (or failed by failRow)
	)
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
		final := state != Queued
		if err != nil {
			// One row's content never costs the batch its other outcomes.
			if err = failRow(c, worker, o, now, err); err != nil {
				return nil, err
			}
			final = true // failRow ended it failed
		}
		switch {
		case c.Changes() == 0:
			stale = append(stale, o)
		case final:
			finishedIDs = append(finishedIDs, o.ID)
		}
	}
	if err := enqueueFollowUps(c, finishedIDs, now); err != nil {
		return nil, err
	}
	// A result can be a MiB of text; don't keep it bound until the next exchange.
	if err := st.ClearBindings(); err != nil {
		return nil, fmt.Errorf("write outcomes: %w", err)
	}
	return stale, nil
}

// enqueueFollowUps adds the follow-ups of the tasks ids, which just
// finished, in one statement per exchange: the ids go as one JSON array,
// and a task without follow-ups costs a lookup by its id.
func enqueueFollowUps(c *sqlitewal.Conn, ids []int64, now time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	list := make([]byte, 0, 12*len(ids))
	for i, id := range ids {
		if i == 0 {
			list = append(list, '[')
		} else {
			list = append(list, ',')
		}
		list = strconv.AppendInt(list, id, 10)
	}
	list = append(list, ']')
	st, err := c.Prepared(followUpSQL)
	if err == nil {
		err = bind(st, string(list), now.UnixMilli())
	}
	if err == nil {
		err = st.Exec()
	}
	return wrap("enqueue follow-ups", err)
}

// failRow ends o's task failed when writing its outcome failed with cause,
// SQLite having undone only that statement. It returns an error (failing
// the exchange) only when the transaction itself is gone or the fallback
// failed too.
func failRow(c *sqlitewal.Conn, worker string, o Outcome, now time.Time, cause error) error {
	if c.GetAutocommit() { // SQLite rolled the transaction back (disk full, I/O error, interrupt)
		return fmt.Errorf("write outcome of task %d: %w", o.ID, cause)
	}
	st, err := c.Prepared(failRowSQL)
	if err == nil {
		err = bind(st, o.ID, o.Attempt, worker, "invalid row: its outcome could not be written: "+cause.Error(),
			now.UnixMilli())
	}
	if err == nil {
		err = st.Exec()
	}
	if err != nil {
		return fmt.Errorf("write outcome of task %d: %w (and marking it failed: %w)", o.ID, cause, err)
	}
	return nil
}

// heartbeat records that p.Worker is alive, and marks the tasks in
// p.Started started. lost is true when the worker's registration is gone.
func heartbeat(c *sqlitewal.Conn, p ClaimParams, now time.Time) (lost bool, err error) {
	st, err := c.Prepared(`UPDATE workers SET heartbeat_at = ?1 WHERE id = ?2`)
	if err == nil {
		err = bind(st, now.UnixMilli(), p.Worker)
	}
	if err == nil {
		err = st.Exec()
	}
	if err != nil {
		return false, wrap("heartbeat", err)
	}
	if c.Changes() == 0 {
		return true, nil
	}
	if len(p.Started) == 0 {
		return false, nil
	}
	ids, _ := json.Marshal(p.Started)
	st, err = c.Prepared(`UPDATE tasks SET started_at = ?1
		WHERE id IN (SELECT value FROM json_each(?2)) AND worker = ?3 AND state = 'running' AND started_at IS NULL`)
	if err == nil {
		err = bind(st, now.UnixMilli(), string(ids), p.Worker)
	}
	if err == nil {
		err = st.Exec()
	}
	return false, wrap("mark tasks started", err)
}

// Errors recorded for attempts taken back from a worker.
const (
	// LeaseExpiredError: an unregistered worker's lease ran out.
	LeaseExpiredError = "lease expired: the worker running this attempt disappeared (killed, crashed or lost its database) before recording an outcome"
	// WorkerDiedError: the attempt was running when its worker stopped
	// heartbeating. The attempt is charged.
	WorkerDiedError = "worker died: the worker running this attempt stopped heartbeating (killed, crashed, stalled or lost its database) before recording an outcome"
	// WorkerDiedUnstartedError: the task waited, unstarted, in a dead
	// worker's prefetch. No attempt is charged.
	WorkerDiedUnstartedError = "worker died before recording that it started this task; no attempt charged"
)

// MaxRecoveries bounds how often a task is taken back from dead workers,
// charged or not: a task that keeps bringing its worker down before its
// start is recorded ends failed with RecoveriesError.
const MaxRecoveries = 20

// RecoveriesError is the error of a task failed after MaxRecoveries.
var RecoveriesError = fmt.Sprintf("taken back from %d dead workers: the task may be what brings them down", MaxRecoveries)

// History outcomes of recovered attempts.
const (
	OutcomeLeaseExpired        = "lease_expired"         // an unregistered worker's lease ran out (charged)
	OutcomeWorkerDied          = "worker_died"           // its worker died while it ran (charged)
	OutcomeWorkerDiedUnstarted = "worker_died_unstarted" // its worker died before starting it (not charged)
)

// recoverSQL takes back running tasks chosen by the WHERE clause formatted
// in. A task that had started is charged its attempt (?4 in the history); one
// that had not (started_at NULL: it waited in a prefetch) is not. Either way
// it goes back to queued, or ends failed when its attempts or MaxRecoveries
// are used up. %[4]s is the table, with the index the WHERE clause seeks.
var recoverSQL = `
UPDATE %[4]s SET
    state       = CASE WHEN %[1]s THEN 'failed' ELSE 'queued' END,
    finished_at = CASE WHEN %[1]s THEN ?1 END,
    run_at      = ?1,
    attempt     = max(attempt - (started_at IS NULL), 0), -- a hand-made running row may have attempt 0
    recoveries  = recoveries + 1,
    error       = %[2]s,
    lease_until = NULL,
    worker      = NULL,
    history     = ` + appendHistory(`json_object(
                      'attempt', attempt,
                      'outcome', CASE WHEN started_at IS NULL THEN '`+OutcomeWorkerDiedUnstarted+`' ELSE ?4 END,
                      'started_at', started_at, 'duration_ms', ?1 - started_at, 'error', %[2]s)`) + `
WHERE state = 'running' AND %[3]s
RETURNING CASE WHEN state = 'failed' AND follow_ups IS NOT NULL THEN id END`

var (
	// recoverEnd: no attempts left, or recovered too often.
	recoverEnd   = fmt.Sprintf(`(started_at IS NOT NULL AND attempt >= coalesce(max_attempts, ?2) OR recoveries + 1 >= %d)`, MaxRecoveries)
	recoverError = fmt.Sprintf(`CASE WHEN recoveries + 1 >= %d THEN '%s' WHEN started_at IS NULL THEN '%s' ELSE ?3 END`,
		MaxRecoveries, RecoveriesError, WorkerDiedUnstartedError)
	// recoverDeadSQL takes the tasks of the workers listed in ?5 (a JSON array).
	recoverDeadSQL = fmt.Sprintf(recoverSQL, recoverEnd, recoverError, `worker IN (SELECT value FROM json_each(?5))`,
		"tasks INDEXED BY tasks_lease")
	// recoverExpiredSQL takes unregistered workers' tasks whose lease ran
	// out (registered workers' tasks have none). A lease that is not a time
	// (NULL, text, past year 9999: only a hand edit gives an unregistered
	// worker's task one) counts as run out, or its task would stay running
	// for ever. Each case is its own seek of tasks_lease: an OR would scan
	// every running task. The NULL seek also reads the running tasks of
	// registered workers, at most their slots and prefetch, to skip them.
	recoverExpiredSQL = fmt.Sprintf(recoverSQL, recoverEnd, recoverError, `id IN (
    SELECT id FROM tasks INDEXED BY tasks_lease WHERE state = 'running' AND lease_until <= ?1
    UNION ALL SELECT id FROM tasks INDEXED BY tasks_lease WHERE state = 'running' AND lease_until IS NULL
    UNION ALL SELECT id FROM tasks INDEXED BY tasks_lease WHERE state = 'running' AND lease_until > `+maxMSText+`)
  AND NOT EXISTS (SELECT 1 FROM workers WHERE id = tasks.worker)`, "tasks")
)

// recoverTasks takes back the running tasks of dead workers: those whose
// heartbeat is stale (their rows are deleted in the same transaction), and
// unregistered ones whose leases ran out.
func recoverTasks(c *sqlitewal.Conn, now time.Time, defaultMax int) (int, error) {
	dead, err := deadWorkers(c, now)
	if err != nil {
		return 0, err
	}
	n, err := recoverWorkers(c, now, defaultMax, dead)
	if err == nil {
		var expired int
		expired, err = execRecover(c, now, recoverExpiredSQL, now.UnixMilli(), max(defaultMax, 1), LeaseExpiredError, OutcomeLeaseExpired)
		n += expired
	}
	return n, wrap("recover tasks of dead workers", err)
}

// recoverWorkers takes back the running tasks of the workers named.
func recoverWorkers(c *sqlitewal.Conn, now time.Time, defaultMax int, workers []string) (int, error) {
	if len(workers) == 0 {
		return 0, nil
	}
	ids, _ := json.Marshal(workers)
	return execRecover(c, now, recoverDeadSQL, now.UnixMilli(), max(defaultMax, 1), WorkerDiedError, OutcomeWorkerDied, string(ids))
}

// execRecover runs a recovery statement, then enqueues the follow-ups of
// the tasks it ended failed (their hooks) in the same transaction.
// It returns the number of tasks taken back.
func execRecover(c *sqlitewal.Conn, now time.Time, query string, args ...any) (int, error) {
	st, err := c.Prepared(query)
	if err == nil {
		err = bind(st, args...)
	}
	if err != nil {
		return 0, err
	}
	var ended []int64 // failed for good, with follow-ups
	for st.Step() {
		if id := st.ColumnInt64(0); id != 0 {
			ended = append(ended, id)
		}
	}
	err = st.Err()
	if rerr := st.Reset(); err == nil {
		err = rerr
	}
	if err != nil {
		return 0, err
	}
	n := int(c.Changes())
	return n, enqueueFollowUps(c, ended, now)
}

// deadWorkers deletes the workers whose heartbeat is stale and returns their ids.
func deadWorkers(c *sqlitewal.Conn, now time.Time) ([]string, error) {
	st, err := c.Prepared(`DELETE FROM workers WHERE heartbeat_at + stale_ms <= ?1 RETURNING id`)
	if err == nil {
		err = bind(st, now.UnixMilli())
	}
	if err != nil {
		return nil, wrap("find dead workers", err)
	}
	var ids []string
	for st.Step() {
		ids = append(ids, st.ColumnText(0))
	}
	err = st.Err()
	if rerr := st.Reset(); err == nil {
		err = rerr
	}
	return ids, wrap("find dead workers", err)
}

// claimSQL takes due tasks in priority, run_at, id order (served by the
// tasks_due index) and gives them to worker ?1, in one statement. ?7 set
// marks them started; ?8 set leases them (an unregistered worker's claim).
//
// The limit is written ?5 + 0, not ?5: SQLite recompiles a statement whose
// bare LIMIT parameter is bound to a new value, and a worker sizes every
// claim by demand, so a bare ?5 cost a compile per exchange.
const claimSQL = `
UPDATE tasks SET
    state       = 'running',
    attempt     = attempt + 1,
    worker      = ?1,
    started_at  = CASE WHEN ?7 THEN ?2 END,
    lease_until = CASE WHEN ?8 THEN ?2 + coalesce(timeout_ms, ?3) + ?4 END
WHERE id IN (
    SELECT id FROM tasks INDEXED BY tasks_due
    WHERE state = 'queued' AND (run_at <= ?2 OR run_at > %[3]s) %[1]s
    ORDER BY priority DESC, run_at, id
    LIMIT ?5 + 0)
RETURNING id, job, CASE WHEN octet_length(payload) <= %[2]d THEN payload END, queue, priority, attempt,
          coalesce(max_attempts, ?6), coalesce(timeout_ms, ?3), task_group, run_at, created_at, lease_until,
          coalesce(schedule_id, 0), coalesce(scheduled_for, 0), octet_length(payload), %[4]s`

// A run_at past year 9999, or not a number (text sorts after every number),
// is taken at once: the worker fails such a row instead of it waiting for ever.
var (
	claimAllSQL    = fmt.Sprintf(claimSQL, "", MaxPayload, maxMSText, rowProblemSQL)
	claimQueuesSQL = fmt.Sprintf(claimSQL, "AND queue IN (SELECT value FROM json_each(?9))", MaxPayload, maxMSText, rowProblemSQL)
)

// claim takes up to p.Limit tasks: a registered worker's first p.Starts
// marked started, the rest not; an unregistered worker's all started.
func claim(c *sqlitewal.Conn, now time.Time, p ClaimParams) ([]Task, error) {
	tasks := make([]Task, 0, p.Limit)
	starts := p.Limit
	if p.Registered {
		starts = min(max(p.Starts, 0), p.Limit)
	}
	var err error
	if starts > 0 {
		tasks, err = claimSome(c, now, p, starts, true, tasks)
	}
	if err == nil && p.Limit > starts {
		tasks, err = claimSome(c, now, p, p.Limit-starts, false, tasks)
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

// claimSome runs one claim statement for n tasks and appends them to tasks.
func claimSome(c *sqlitewal.Conn, now time.Time, p ClaimParams, n int, started bool, tasks []Task) ([]Task, error) {
	args := []any{p.Worker, now.UnixMilli(), p.DefaultTimeout.Milliseconds(), p.LeaseMargin.Milliseconds(),
		n, max(p.DefaultMaxAttempts, 1), flag(started), flag(!p.Registered)}
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
		return nil, err
	}
	for st.Step() {
		t := Task{
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
			LeaseUntil:   fromMS(st.ColumnInt64(11)), // zero for a registered worker
			Worker:       p.Worker,
			ScheduleID:   st.ColumnInt64(12),
			ScheduledFor: fromMS(st.ColumnInt64(13)),
			PayloadBytes: st.ColumnInt(14),
			Invalid:      st.ColumnText(15), // NULL reads as ""
		}
		if t.PayloadBytes > MaxPayload {
			t.Payload = nil // left out by the claim (see Task.PayloadBytes)
		}
		tasks = append(tasks, t)
	}
	// Err first: a Step refused because ctx ended (INTERRUPT) never reached
	// SQLite, so Reset, which returns SQLite's error, does not report it.
	err = st.Err()
	if rerr := st.Reset(); err == nil {
		err = rerr
	}
	return tasks, err
}

// flag is a boolean as SQLite stores one.
func flag(b bool) int {
	if b {
		return 1
	}
	return 0
}
