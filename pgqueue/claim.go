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

// Exchange heartbeats a registered worker, writes outcomes and claims up
// to p.Limit due tasks in one transaction and one round trip: the
// statements go as one pipeline, which PostgreSQL runs as one implicit
// transaction (all or nothing). Before claiming it takes back the tasks of
// dead workers (stale heartbeats) and unregistered workers' expired leases,
// as queue.Store.Exchange does. A registered worker whose registration is
// gone gets ExchangeResult.Lost: the heartbeat fails the transaction, so
// nothing else is written or claimed. Every time (heartbeat, start, lease,
// finish) is the database's clock, the same for every statement of the
// exchange, unless a clock was injected.
func (s *Store) Exchange(ctx context.Context, outcomes []queue.Outcome, p queue.ClaimParams) (queue.ExchangeResult, error) {
	var res queue.ExchangeResult
	b := &pgx.Batch{}
	now := s.nowArg()
	if p.Registered {
		b.Queue(heartbeatSQL, p.Worker, now)
		if len(p.Started) > 0 {
			b.Queue(markStartedSQL, p.Started, p.Worker, now)
		}
	}
	var sent []int // indexes of the outcomes the statement writes
	if len(outcomes) > 0 {
		args, idx, err := outcomeArgs(outcomes, p.Worker, now, s.local())
		if err != nil {
			return res, err
		}
		sent = idx
		b.Queue(outcomesSQL, args...)
	}
	claiming := p.Limit > 0
	if claiming {
		b.Queue(recoverDeadSQL, recoverArgs(now, p.DefaultMaxAttempts, "")...)
		b.Queue(recoverExpiredSQL, expiredArgs(now, p.DefaultMaxAttempts)...)
		q, args := claimQuery(p, now)
		b.Queue(q, args...)
	}
	if b.Len() == 0 {
		return res, nil
	}
	// The heartbeat above is the transaction's start; a statement after it
	// may wait on locks for long. Written again last, at the moment, the
	// heartbeat the exchange commits is not older than its wait.
	refresh := p.Registered && s.now == nil && b.Len() > 1
	if refresh {
		b.Queue(refreshHeartbeatSQL, p.Worker)
	}
	br := s.pool.SendBatch(ctx, b)
	err := s.readExchange(br, outcomes, sent, claiming, p, &res)
	if err == nil && refresh {
		if _, err = br.Exec(); err != nil {
			err = fmt.Errorf("heartbeat: %w", err)
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	switch {
	case err == nil:
		return res, nil
	case isLost(err):
		return queue.ExchangeResult{Lost: true}, nil
	case ctx.Err() != nil:
		err = fmt.Errorf("%w (%w)", err, ctx.Err()) // interrupted: say why
	}
	return queue.ExchangeResult{}, wrap("exchange", err)
}

// readExchange reads the pipeline's results in the order Exchange queued them.
func (s *Store) readExchange(br pgx.BatchResults, outcomes []queue.Outcome, sent []int, claiming bool, p queue.ClaimParams, res *queue.ExchangeResult) error {
	if p.Registered {
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("heartbeat: %w", err)
		}
		if len(p.Started) > 0 {
			if _, err := br.Exec(); err != nil {
				return fmt.Errorf("mark tasks started: %w", err)
			}
		}
	}
	if len(outcomes) > 0 {
		rows, err := br.Query()
		if err != nil {
			return fmt.Errorf("write outcomes: %w", err)
		}
		written, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return fmt.Errorf("write outcomes: %w", err)
		}
		res.Stale = staleOutcomes(outcomes, sent, written)
	}
	if !claiming {
		return nil
	}
	for _, what := range []string{"recover tasks of dead workers", "recover expired leases"} {
		var n int
		if err := br.QueryRow().Scan(&n); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		res.Recovered += n
	}
	rows, err := br.Query()
	if err != nil {
		return fmt.Errorf("claim tasks: %w", err)
	}
	started := map[int64]bool{}
	res.Claimed, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (queue.Task, error) {
		t, st, err := scanClaimed(row, p.Worker)
		started[t.ID] = st
		return t, err
	})
	if err != nil {
		return fmt.Errorf("claim tasks: %w", err)
	}
	// RETURNING gives no order; run them in the order the claim chose, the
	// ones marked started first: the worker hands the first p.Starts to its
	// idle goroutines.
	slices.SortFunc(res.Claimed, func(a, b queue.Task) int {
		if started[a.ID] != started[b.ID] {
			if started[a.ID] {
				return -1
			}
			return 1
		}
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

// outcomesSQL writes a batch of outcomes in one statement: the arrays
// $1.. hold one outcome per element, and each is written only if its task
// is still running under this worker's lease ($13) at its attempt (else it
// is stale). It returns the ordinals of the outcomes it wrote. The
// follow-ups of the tasks it finished are enqueued by the same statement.
// A retry is due $6 ms after the statement's now: the worker chose its time
// on its own clock, which may disagree with the database's.
var outcomesSQL = `
WITH c AS (SELECT ` + nowParam(14) + ` AS now),
w AS (
UPDATE tasks t SET
    state       = o.state,
    result      = o.result,
    error       = CASE WHEN o.state = 'succeeded' THEN NULL WHEN o.error IS NULL THEN t.error ELSE o.error END,
    run_at      = CASE WHEN o.run_now THEN c.now ELSE coalesce(c.now + o.retry_in, t.run_at) END,
    finished_at = CASE WHEN o.finished THEN c.now END,
    duration_ms = o.duration_ms,
    attempt     = t.attempt - o.uncharge,
    lease_until = NULL,
    worker      = NULL,
    history     = t.history || jsonb_build_array(jsonb_build_object(
                      'attempt', t.attempt, 'outcome', o.label, 'started_at', o.started_at,
                      'duration_ms', o.duration_ms, 'error', o.error)
                  || jsonb_strip_nulls(jsonb_build_object('leftover', o.leftover, 'peak_rss', o.peak_rss)))
FROM c,
    unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::boolean[],
           $8::boolean[], $9::bigint[], $10::bigint[], $11::text[], $12::bigint[], $15::bigint[], $16::bigint[])
        WITH ORDINALITY AS o(id, attempt, state, result, error, retry_in, finished, run_now, duration_ms,
                             uncharge, label, started_at, leftover, peak_rss, n)
WHERE t.id = ANY($1::bigint[]) AND t.id = o.id AND t.attempt = o.attempt AND t.state = 'running' AND t.worker = $13::text
RETURNING o.n, ` + finishedCols + `),` + followUpsCTE("w") + `
SELECT n FROM w`

// outcomeArgs returns outcomesSQL's parameters for outcomes, and the
// indexes of the outcomes they carry. Of outcomes repeating a task and
// attempt, only the first is sent: written one after the other, the later
// ones would find the task no longer running, so they are stale whatever
// happens to the first (and one statement updates a row only once).
// local is this process's time now, the clock the worker read to choose
// its retry times: a retry goes in as its delay from local. The outcomes
// go in id order, so the statement locks their tasks in the order Cancel
// and Retry do.
func outcomeArgs(outcomes []queue.Outcome, worker string, now any, local time.Time) ([]any, []int, error) {
	var (
		ids, attempts, retryIns, durations, uncharges, starts []*int64
		leftovers, peakRSSes                                  []*int64 // supervised attempts only
		states, results, errs, labels                         []*string
		finisheds, runNows                                    []bool
		sent                                                  []int
	)
	type key struct {
		id      int64
		attempt int
	}
	seen := map[key]bool{}
	order := make([]int, len(outcomes))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(outcomes[a].ID, outcomes[b].ID) })
	for _, i := range order {
		o := outcomes[i]
		if seen[key{o.ID, o.Attempt}] {
			continue
		}
		seen[key{o.ID, o.Attempt}] = true
		w, err := writeOf(o, local)
		if err != nil {
			return nil, nil, err
		}
		sent = append(sent, i)
		ids = append(ids, ptr(o.ID))
		attempts = append(attempts, ptr(int64(o.Attempt)))
		states = append(states, ptr(string(w.state)))
		results = append(results, w.result)
		errs = append(errs, w.err)
		retryIns = append(retryIns, w.retryIn)
		finisheds = append(finisheds, w.finished)
		runNows = append(runNows, w.runNow)
		durations = append(durations, ptr(o.Duration.Milliseconds()))
		uncharges = append(uncharges, ptr(w.uncharge))
		labels = append(labels, ptr(w.label))
		starts = append(starts, ptr(ms(o.StartedAt)))
		var leftover, peakRSS *int64
		if p := o.Processes; p != nil {
			leftover, peakRSS = ptr(int64(p.Leftover)), ptr(p.PeakRSS)
		}
		leftovers, peakRSSes = append(leftovers, leftover), append(peakRSSes, peakRSS)
	}
	return []any{ids, attempts, states, results, errs, retryIns, finisheds, runNows, durations, uncharges,
		labels, starts, worker, now, leftovers, peakRSSes}, sent, nil
}

// outcomeWrite is what one outcome writes into its task.
type outcomeWrite struct {
	state            queue.State
	result, err      *string
	retryIn          *int64 // ms from the statement's now; nil: keep run_at
	finished, runNow bool
	uncharge         int64
	label            string
}

// writeOf decides what outcome o writes, as queue does; local is the time
// now on the clock o.RetryAt was chosen on.
func writeOf(o queue.Outcome, local time.Time) (outcomeWrite, error) {
	w := outcomeWrite{label: o.Label}
	if o.Error != "" {
		w.err = ptr(storable(o.Error))
	}
	defaultLabel := ""
	switch o.Kind {
	case queue.Succeed:
		w.state, w.result, w.finished, defaultLabel = queue.Succeeded, ptr(storable(string(o.Result))), true, "succeeded"
	case queue.Fail:
		if o.RetryAt.IsZero() {
			w.state, w.finished = queue.Failed, true
		} else {
			w.state, w.retryIn = queue.Queued, ptr(o.RetryAt.Sub(local).Milliseconds())
		}
		defaultLabel = "failed"
	case queue.Release:
		w.state, w.runNow, w.uncharge, defaultLabel = queue.Queued, true, 1, "released"
	case queue.Cancel:
		w.state, w.finished, defaultLabel = queue.Cancelled, true, "cancelled"
	default:
		return w, fmt.Errorf("write outcome of task %d: unknown kind %d", o.ID, o.Kind)
	}
	if w.label == "" {
		w.label = defaultLabel
	}
	return w, nil
}

func ptr[T any](v T) *T { return &v }

// staleOutcomes returns the outcomes that were not written: those not sent
// and those sent whose ordinal (1-based among sent) is not in written.
func staleOutcomes(outcomes []queue.Outcome, sent []int, written []int64) []queue.Outcome {
	ok := make([]bool, len(outcomes))
	for _, n := range written {
		ok[sent[n-1]] = true
	}
	var stale []queue.Outcome
	for i, o := range outcomes {
		if !ok[i] {
			stale = append(stale, o)
		}
	}
	return stale
}

// claimSQL takes due tasks in priority, run_at, id order (the tasks_due
// index) and gives them to worker $1, in one statement. SKIP LOCKED lets
// concurrent claims pass each other's rows instead of waiting for them:
// each task goes to exactly one claim. The first $7 in claim order are
// marked started (idle goroutines take them at once); the others wait in
// the worker's prefetch until it reports them started, and a recovery
// meanwhile does not charge them. $8 set leases them: an unregistered
// worker's claim (timeout + LeaseMargin); a registered worker's tasks are
// its own while it heartbeats. %[2]s filters by queue ($9).
const claimSQL = `
WITH c AS (SELECT %[1]s AS now),
picked AS (
    SELECT id FROM tasks
    WHERE state = 'queued' AND run_at <= (SELECT now FROM c) %[2]s
    ORDER BY priority DESC, run_at, id
    LIMIT $5
    FOR UPDATE SKIP LOCKED),
ranked AS ( -- in picked's order; a sort here would cost a Sort node on every claim
    SELECT id, row_number() OVER () AS n FROM picked)
UPDATE tasks t SET
    state       = 'running',
    attempt     = t.attempt + 1,
    worker      = $1::text,
    started_at  = CASE WHEN ranked.n <= $7 THEN c.now END,
    lease_until = CASE WHEN $8::boolean THEN c.now + coalesce(t.timeout_ms, $3) + $4 END
FROM ranked, c
WHERE t.id = ranked.id
RETURNING t.id, t.job, CASE WHEN octet_length(t.payload) <= %[3]d THEN t.payload END, t.queue, t.priority,
          t.attempt, coalesce(t.max_attempts, $6), coalesce(t.timeout_ms, $3), coalesce(t.task_group, ''),
          t.run_at, t.created_at, c.now, coalesce(t.lease_until, 0),
          coalesce(t.schedule_id, 0), coalesce(t.scheduled_for, 0), octet_length(t.payload), t.started_at IS NOT NULL`

var (
	claimAllSQL    = fmt.Sprintf(claimSQL, nowParam(2), "", queue.MaxPayload)
	claimQueuesSQL = fmt.Sprintf(claimSQL, nowParam(2), "AND queue = ANY($9::text[])", queue.MaxPayload)
)

// claimQuery returns the claim statement for p and its parameters: a
// registered worker's first p.Starts tasks marked started, the rest not; an
// unregistered worker's all started and leased.
func claimQuery(p queue.ClaimParams, now any) (string, []any) {
	starts := p.Limit
	if p.Registered {
		starts = min(max(p.Starts, 0), p.Limit)
	}
	args := []any{p.Worker, now, p.DefaultTimeout.Milliseconds(), p.LeaseMargin.Milliseconds(),
		p.Limit, max(p.DefaultMaxAttempts, 1), starts, !p.Registered}
	if len(p.Queues) > 0 {
		return claimQueuesSQL, append(args, p.Queues)
	}
	return claimAllSQL, args
}

// scanClaimed reads a claimed task, and whether the claim marked it started.
func scanClaimed(row pgx.CollectableRow, worker string) (t queue.Task, started bool, err error) {
	var (
		payload                              *string
		timeoutMS, runAt, created, startedAt int64
		lease, scheduleID, scheduledFor, sum int64
	)
	err = row.Scan(&t.ID, &t.Job, &payload, &t.Queue, &t.Priority, &t.Attempt, &t.MaxAttempts, &timeoutMS,
		&t.Group, &runAt, &created, &startedAt, &lease, &scheduleID, &scheduledFor, &sum, &started)
	if err != nil {
		return t, false, err
	}
	if payload != nil {
		t.Payload = json.RawMessage(*payload)
	} // else left out by the claim (see queue.Task.PayloadBytes)
	t.State, t.Worker = queue.Running, worker
	t.Timeout = time.Duration(timeoutMS) * time.Millisecond
	t.RunAt, t.CreatedAt, t.StartedAt, t.LeaseUntil = fromMS(runAt), fromMS(created), fromMS(startedAt), fromMS(lease)
	t.ScheduleID, t.ScheduledFor, t.PayloadBytes = scheduleID, fromMS(scheduledFor), int(sum)
	return t, started, nil
}
