package pgqueue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluicehq/sluice/queue"
)

// Register adds a worker, heartbeating at the store's clock (the
// database's), as queue.Store.Register does. Exchange with
// queue.ClaimParams.Registered needs it; Unregister removes it on the way
// out. An id registered already is refused (a unique violation), even a
// dead one's: the new process knows nothing of the tasks the old one held.
func (s *Store) Register(ctx context.Context, w queue.WorkerInfo) error {
	if w.StaleAfter <= 0 {
		return fmt.Errorf("register worker %s: stale limit %s must be positive", w.ID, w.StaleAfter)
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO workers (id, host, pid, version, command, started_at, heartbeat_at, stale_ms)
		SELECT $1, $2, $3, $4, $5, c.now, c.now, $6 FROM (SELECT `+nowParam(7)+` AS now) c`,
		w.ID, w.Host, w.PID, w.Version, w.Command, w.StaleAfter.Milliseconds(), s.nowArg())
	return wrap("register worker "+w.ID, err)
}

// Unregister removes a worker that is leaving. Tasks it still holds go back
// to the queue at once, as a dead worker's would (defaultMaxAttempts for
// those stored without their own). It returns how many there were.
func (s *Store) Unregister(ctx context.Context, id string, defaultMaxAttempts int) (recovered int, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The row first: its lock waits for an exchange of this worker in
		// flight, as a worker judging it dead would.
		if _, err := tx.Exec(ctx, `DELETE FROM workers WHERE id = $1`, id); err != nil {
			return err
		}
		return tx.QueryRow(ctx, recoverWorkerSQL, recoverArgs(s.nowArg(), defaultMaxAttempts, id)...).Scan(&recovered)
	})
	return recovered, wrap("unregister worker "+id, err)
}

// Workers lists the registered workers, oldest first, with the running tasks
// each holds. A stale one (see queue.WorkerInfo.Stale) is dead and not yet
// cleaned up: the next claim by any worker removes it.
func (s *Store) Workers(ctx context.Context) ([]queue.WorkerInfo, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT w.id, w.host, w.pid, w.version, w.command, w.started_at, w.heartbeat_at, w.stale_ms,
		       coalesce((SELECT array_agg(t.id ORDER BY t.id) FROM tasks t
		                 WHERE t.state = 'running' AND t.worker = w.id), '{}')
		FROM workers w ORDER BY w.started_at, w.id`)
	if err != nil {
		return nil, wrap("list workers", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (queue.WorkerInfo, error) {
		var (
			w                  queue.WorkerInfo
			started, beat, sms int64
		)
		err := row.Scan(&w.ID, &w.Host, &w.PID, &w.Version, &w.Command, &started, &beat, &sms, &w.Tasks)
		w.StartedAt, w.HeartbeatAt = fromMS(started), fromMS(beat)
		w.StaleAfter = time.Duration(sms) * time.Millisecond
		return w, err
	})
	return out, wrap("list workers", err)
}

// heartbeatSQL records that worker $1 is alive; it fails with errLost's
// SQLSTATE when the worker's registration is gone (migration 0005).
var heartbeatSQL = `SELECT sluice_heartbeat($1::text, ` + nowParam(2) + `)`

// refreshHeartbeatSQL moves worker $1's heartbeat to the database's clock
// at the moment (clock_timestamp, not the transaction's start), at the end
// of an exchange whose statements may have waited on locks.
const refreshHeartbeatSQL = `UPDATE workers
SET heartbeat_at = greatest(heartbeat_at, floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint)
WHERE id = $1::text`

// markStartedSQL records that tasks $1, claimed unstarted into worker $2's
// prefetch, have started: a recovery now charges their attempt.
var markStartedSQL = `
UPDATE tasks SET started_at = ` + nowParam(3) + `
WHERE id = ANY($1::bigint[]) AND worker = $2::text AND state = 'running' AND started_at IS NULL`

// lostCode is the SQLSTATE sluice_heartbeat raises for a worker that is not
// registered.
const lostCode = "SLOST"

// isLost reports whether err is sluice_heartbeat's "not registered".
func isLost(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == lostCode
}

// Store is the PostgreSQL form of the store contract.
var _ queue.Backend = (*Store)(nil)
