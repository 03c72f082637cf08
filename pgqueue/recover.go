package pgqueue

import (
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/queue"
)

// recoverSQL takes back running tasks chosen by the WHERE clause %[4]s (with
// the CTEs %[1]s before it), as queue's recoverSQL does. A task that had
// started is charged its attempt ($4 in the history); one that had not
// (started_at NULL: it waited in a prefetch) is not. Either way it goes back
// to queued, or ends failed when its attempts ($2 for tasks stored without
// their own) or queue.MaxRecoveries are used up. $1 is the clock, $3 the
// error. It returns how many tasks it took back. The follow-ups of those it
// ended failed (their hooks) are enqueued by the same statement.
const recoverSQL = `
WITH c AS (SELECT %[5]s AS now), %[1]s
r AS (
    UPDATE tasks t SET
        state       = CASE WHEN %[2]s THEN 'failed' ELSE 'queued' END,
        finished_at = CASE WHEN %[2]s THEN c.now END,
        run_at      = c.now,
        attempt     = greatest(t.attempt - (t.started_at IS NULL)::int, 0), -- a hand-made running row may have attempt 0
        recoveries  = t.recoveries + 1,
        error       = %[3]s,
        lease_until = NULL,
        worker      = NULL,
        history     = t.history || jsonb_build_array(jsonb_build_object(
                          'attempt', t.attempt,
                          'outcome', CASE WHEN t.started_at IS NULL THEN '` + queue.OutcomeWorkerDiedUnstarted + `' ELSE $4::text END,
                          'started_at', t.started_at, 'duration_ms', c.now - t.started_at, 'error', %[3]s))
    FROM c
    WHERE t.state = 'running' AND %[4]s
    RETURNING ` + finishedCols + `)`

// recoverStatement is recoverSQL with its parts, the follow-ups CTE and the count.
func recoverStatement(ctes, where string) string {
	return fmt.Sprintf(recoverSQL, ctes, recoverEnd, recoverError, where, nowParam(1)) + "," + followUpsCTE("r") + `
SELECT count(*) FROM r`
}

// maxMS is the last millisecond of year 9999: a lease past it is a hand
// edit, and counts as run out.
const maxMS = 253402300799999

var (
	// recoverEnd: no attempts left, or recovered too often.
	recoverEnd = fmt.Sprintf(`(t.started_at IS NOT NULL AND t.attempt >= coalesce(t.max_attempts, $2) OR t.recoveries + 1 >= %d)`,
		queue.MaxRecoveries)
	recoverError = fmt.Sprintf(`CASE WHEN t.recoveries + 1 >= %d THEN %s WHEN t.started_at IS NULL THEN %s ELSE $3::text END`,
		queue.MaxRecoveries, quote(queue.RecoveriesError), quote(queue.WorkerDiedUnstartedError))

	// recoverDeadSQL deletes the workers whose heartbeat is stale and takes
	// back their tasks. SKIP LOCKED passes over a worker whose exchange is
	// heartbeating it right now (it is alive) and one that another exchange
	// is judging dead: of two exchanges that both find a worker stale, one
	// deletes it and takes its tasks, the other finds nothing to do.
	recoverDeadSQL = recoverStatement(`
dead AS (
    DELETE FROM workers WHERE id IN (
        SELECT id FROM workers WHERE heartbeat_at + stale_ms <= (SELECT now FROM c)
        FOR UPDATE SKIP LOCKED)
    RETURNING id),`, `t.worker IN (SELECT id FROM dead)`)

	// recoverWorkerSQL takes back the tasks of worker $5 (Unregister).
	recoverWorkerSQL = recoverStatement("", `t.worker = $5::text`)

	// recoverExpiredSQL takes unregistered workers' tasks whose lease ran
	// out (registered workers' tasks have none). A lease that is NULL or past
	// year 9999 (only a hand edit gives an unregistered worker's task one)
	// counts as run out, or its task would stay running for ever. SKIP
	// LOCKED leaves a task another exchange is recovering (or a worker is
	// writing) to it.
	recoverExpiredSQL = recoverStatement("", fmt.Sprintf(`t.id IN (
        SELECT id FROM tasks
        WHERE state = 'running' AND (lease_until <= (SELECT now FROM c) OR lease_until IS NULL OR lease_until > %d)
          AND NOT EXISTS (SELECT 1 FROM workers w WHERE w.id = tasks.worker)
        FOR UPDATE SKIP LOCKED)`, maxMS))
)

// recoverArgs returns a recovery statement's parameters: the clock, the
// default attempts, and for recoverWorkerSQL the worker.
func recoverArgs(now any, defaultMax int, worker string) []any {
	args := []any{now, max(defaultMax, 1), queue.WorkerDiedError, queue.OutcomeWorkerDied}
	if worker != "" {
		args = append(args, worker)
	}
	return args
}

// expiredArgs returns recoverExpiredSQL's parameters.
func expiredArgs(now any, defaultMax int) []any {
	return []any{now, max(defaultMax, 1), queue.LeaseExpiredError, queue.OutcomeLeaseExpired}
}

// quote makes s an SQL string literal.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
