package pgqueue

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/queue"
)

// Exchange writes outcomes and claims up to p.Limit due tasks in one
// transaction and one round trip: the statements go as one pipeline, which
// PostgreSQL runs as one implicit transaction (all or nothing). Before
// claiming it recovers tasks whose lease expired: each such task has its
// attempt counted, and ends failed when it has no attempts left. Every time
// (start, lease, finish) is the database's clock, the same for every
// statement of the exchange, unless a clock was injected.
func (s *Store) Exchange(ctx context.Context, outcomes []queue.Outcome, p queue.ClaimParams) (queue.ExchangeResult, error) {
	var res queue.ExchangeResult
	b := &pgx.Batch{}
	now := s.nowArg()
	for _, o := range outcomes {
		args, err := outcomeArgs(o, p.Worker, now)
		if err != nil {
			return res, err
		}
		b.Queue(outcomeSQL, args...)
	}
	claiming := p.Limit > 0
	if claiming {
		b.Queue(recoverSQL, now, max(p.DefaultMaxAttempts, 1), queue.LeaseExpiredError)
		q, args := claimQuery(p, now)
		b.Queue(q, args...)
	}
	if b.Len() == 0 {
		return res, nil
	}
	br := s.pool.SendBatch(ctx, b)
	err := s.readExchange(br, outcomes, claiming, p, &res)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", err, ctx.Err()) // interrupted: say why
		}
		return queue.ExchangeResult{}, wrap("exchange", err)
	}
	return res, nil
}

// readExchange reads the pipeline's results in the order Exchange queued them.
func (s *Store) readExchange(br pgx.BatchResults, outcomes []queue.Outcome, claiming bool, p queue.ClaimParams, res *queue.ExchangeResult) error {
	for _, o := range outcomes {
		tag, err := br.Exec()
		if err != nil {
			return fmt.Errorf("write outcome of task %d: %w", o.ID, err)
		}
		if tag.RowsAffected() == 0 {
			res.Stale = append(res.Stale, o)
		}
	}
	if !claiming {
		return nil
	}
	tag, err := br.Exec()
	if err != nil {
		return fmt.Errorf("recover expired leases: %w", err)
	}
	res.Recovered = int(tag.RowsAffected())
	rows, err := br.Query()
	if err != nil {
		return fmt.Errorf("claim tasks: %w", err)
	}
	res.Claimed, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (queue.Task, error) {
		return scanClaimed(row, p.Worker)
	})
	if err != nil {
		return fmt.Errorf("claim tasks: %w", err)
	}
	// RETURNING gives no order; run them in the order the claim chose.
	slices.SortFunc(res.Claimed, func(a, b queue.Task) int {
		if a.Priority != b.Priority {
			return b.Priority - a.Priority
		}
		if c := a.RunAt.Compare(b.RunAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return nil
}

// outcomeSQL writes one attempt's outcome, if the task is still running
// under this worker's lease at this attempt (else it is stale).
var outcomeSQL = `
UPDATE tasks t SET
    state       = $1::text,
    result      = $2::text,
    error       = CASE WHEN $1::text = 'succeeded' THEN NULL WHEN $3::text IS NULL THEN t.error ELSE $3::text END,
    run_at      = CASE WHEN $13::boolean THEN c.now ELSE coalesce($4::bigint, t.run_at) END,
    finished_at = CASE WHEN $5::boolean THEN c.now END,
    duration_ms = $6::bigint,
    attempt     = t.attempt - $7::bigint,
    lease_until = NULL,
    worker      = NULL,
    history     = t.history || jsonb_build_array(jsonb_build_object(
                      'attempt', t.attempt, 'outcome', $8::text, 'started_at', $9::bigint,
                      'duration_ms', $6::bigint, 'error', $3::text))
FROM (SELECT ` + nowParam(14) + ` AS now) c
WHERE t.id = $10 AND t.attempt = $11 AND t.state = 'running' AND t.worker = $12::text`

// outcomeArgs returns outcomeSQL's parameters for o.
func outcomeArgs(o queue.Outcome, worker string, now any) ([]any, error) {
	var (
		state    queue.State
		result   any
		runAt    any
		finished bool
		runNow   bool
		uncharge int
		label    = o.Label
	)
	switch o.Kind {
	case queue.Succeed:
		state, result, finished = queue.Succeeded, storable(string(o.Result)), true
		if label == "" {
			label = "succeeded"
		}
	case queue.Fail:
		if o.RetryAt.IsZero() {
			state, finished = queue.Failed, true
		} else {
			state, runAt = queue.Queued, o.RetryAt.UnixMilli()
		}
		if label == "" {
			label = "failed"
		}
	case queue.Release:
		state, runNow, uncharge = queue.Queued, true, 1
		if label == "" {
			label = "released"
		}
	case queue.Cancel:
		state, finished = queue.Cancelled, true
		if label == "" {
			label = "cancelled"
		}
	default:
		return nil, fmt.Errorf("write outcome of task %d: unknown kind %d", o.ID, o.Kind)
	}
	return []any{string(state), result, nullString(storable(o.Error)), runAt, finished,
		o.Duration.Milliseconds(), uncharge, label, ms(o.StartedAt), o.ID, o.Attempt, worker, runNow, now}, nil
}

// recoverSQL ends the leases that expired: the attempt counts, and the task
// is queued again or, with no attempts left, failed. SKIP LOCKED leaves a
// task another exchange is recovering (or a worker is writing) to it.
var recoverSQL = `
UPDATE tasks t SET
    state       = CASE WHEN t.attempt >= coalesce(t.max_attempts, $2) THEN 'failed' ELSE 'queued' END,
    finished_at = CASE WHEN t.attempt >= coalesce(t.max_attempts, $2) THEN c.now END,
    run_at      = c.now,
    error       = $3::text,
    lease_until = NULL,
    worker      = NULL,
    history     = t.history || jsonb_build_array(jsonb_build_object(
                      'attempt', t.attempt, 'outcome', 'lease_expired', 'started_at', t.started_at,
                      'duration_ms', c.now - t.started_at, 'error', $3::text))
FROM (SELECT ` + nowParam(1) + ` AS now) c
WHERE t.id IN (
    SELECT id FROM tasks
    WHERE state = 'running' AND lease_until <= ` + nowParam(1) + `
    FOR UPDATE SKIP LOCKED)`

// claimSQL takes due tasks in priority, run_at, id order (the tasks_due
// index) and leases them, in one statement. SKIP LOCKED lets concurrent
// claims pass each other's rows instead of waiting for them: each task goes
// to exactly one claim. %s filters by queue ($7).
const claimSQL = `
WITH c AS (SELECT %[1]s AS now),
picked AS (
    SELECT id FROM tasks
    WHERE state = 'queued' AND run_at <= (SELECT now FROM c) %[2]s
    ORDER BY priority DESC, run_at, id
    LIMIT $5
    FOR UPDATE SKIP LOCKED)
UPDATE tasks t SET
    state       = 'running',
    attempt     = t.attempt + 1,
    worker      = $1::text,
    started_at  = c.now,
    lease_until = c.now + coalesce(t.timeout_ms, $3) + $4
FROM picked, c
WHERE t.id = picked.id
RETURNING t.id, t.job, CASE WHEN octet_length(t.payload) <= %[3]d THEN t.payload END, t.queue, t.priority,
          t.attempt, coalesce(t.max_attempts, $6), coalesce(t.timeout_ms, $3), coalesce(t.task_group, ''),
          t.run_at, t.created_at, t.started_at, t.lease_until,
          coalesce(t.schedule_id, 0), coalesce(t.scheduled_for, 0), octet_length(t.payload)`

var (
	claimAllSQL    = fmt.Sprintf(claimSQL, nowParam(2), "", queue.MaxPayload)
	claimQueuesSQL = fmt.Sprintf(claimSQL, nowParam(2), "AND queue = ANY($7::text[])", queue.MaxPayload)
)

func claimQuery(p queue.ClaimParams, now any) (string, []any) {
	args := []any{p.Worker, now, p.DefaultTimeout.Milliseconds(), p.LeaseMargin.Milliseconds(),
		p.Limit, max(p.DefaultMaxAttempts, 1)}
	if len(p.Queues) > 0 {
		return claimQueuesSQL, append(args, p.Queues)
	}
	return claimAllSQL, args
}

func scanClaimed(row pgx.CollectableRow, worker string) (queue.Task, error) {
	var (
		t                                    queue.Task
		payload                              *string
		timeoutMS, runAt, created, started   int64
		lease, scheduleID, scheduledFor, sum int64
	)
	err := row.Scan(&t.ID, &t.Job, &payload, &t.Queue, &t.Priority, &t.Attempt, &t.MaxAttempts, &timeoutMS,
		&t.Group, &runAt, &created, &started, &lease, &scheduleID, &scheduledFor, &sum)
	if err != nil {
		return t, err
	}
	if payload != nil {
		t.Payload = json.RawMessage(*payload)
	} // else left out by the claim (see queue.Task.PayloadBytes)
	t.State, t.Worker = queue.Running, worker
	t.Timeout = time.Duration(timeoutMS) * time.Millisecond
	t.RunAt, t.CreatedAt, t.StartedAt, t.LeaseUntil = fromMS(runAt), fromMS(created), fromMS(started), fromMS(lease)
	t.ScheduleID, t.ScheduledFor, t.PayloadBytes = scheduleID, fromMS(scheduledFor), int(sum)
	return t, nil
}
