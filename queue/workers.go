package queue

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/sqlitewal"
)

// WorkerInfo is one registered worker process (the workers table).
type WorkerInfo struct {
	ID      string // tasks.worker of the tasks it holds
	Host    string
	PID     int
	Version string
	Command string // drain or run
	// StaleAfter is how long after its last heartbeat the worker counts as
	// dead, when any claim may take its tasks back.
	StaleAfter  time.Duration
	StartedAt   time.Time // set by Register
	HeartbeatAt time.Time // set by Register and every exchange
	Tasks       []int64   // running tasks it holds, in id order (Workers only)
}

// Stale reports whether w counts as dead at now.
func (w WorkerInfo) Stale(now time.Time) bool {
	return !w.HeartbeatAt.Add(w.StaleAfter).After(now)
}

// Register adds a worker, heartbeating at the store's clock. Exchange with
// ClaimParams.Registered needs it; Unregister removes it on the way out.
// An id registered already is refused (a primary key error), even a dead
// one's: the new process knows nothing of the tasks the old one held.
func (s *Store) Register(ctx context.Context, w WorkerInfo) error {
	if w.StaleAfter <= 0 {
		return fmt.Errorf("register worker %s: stale limit %s must be positive", w.ID, w.StaleAfter)
	}
	now := s.now().UnixMilli()
	_, err := s.db.Write.ExecContext(ctx, `INSERT INTO workers
		(id, host, pid, version, command, started_at, heartbeat_at, stale_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		w.ID, w.Host, w.PID, w.Version, w.Command, now, now, w.StaleAfter.Milliseconds())
	return wrap("register worker "+w.ID, err)
}

// Unregister removes a worker that is leaving. Tasks it still holds go back
// to the queue at once, as a dead worker's would (defaultMaxAttempts for those
// stored without their own). It returns how many there were.
func (s *Store) Unregister(ctx context.Context, id string, defaultMaxAttempts int) (recovered int, err error) {
	err = s.db.Raw(ctx, func(c *sqlitewal.Conn) error {
		if err := c.Exec("BEGIN IMMEDIATE"); err != nil {
			return err
		}
		if recovered, err = recoverWorkers(c, s.now(), defaultMaxAttempts, []string{id}); err != nil {
			return err
		}
		st, err := c.Prepared(`DELETE FROM workers WHERE id = ?1`)
		if err == nil {
			err = bind(st, id)
		}
		if err == nil {
			err = st.Exec()
		}
		if err != nil {
			return err
		}
		return c.Exec("COMMIT") // sqlitewal.DB.Raw rolls back if it failed
	})
	return recovered, wrap("unregister worker "+id, err)
}

// Workers lists the registered workers, oldest first, with the running tasks
// each holds. A stale one (see WorkerInfo.Stale) is dead and not yet cleaned
// up: the next claim by any worker removes it.
func (s *Store) Workers(ctx context.Context) ([]WorkerInfo, error) {
	var out []WorkerInfo
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `
			SELECT id, host, pid, version, command, started_at, heartbeat_at, stale_ms,
			       (SELECT json_group_array(id) FROM (SELECT id FROM tasks INDEXED BY tasks_lease
			        WHERE state = 'running' AND worker = workers.id ORDER BY id))
			FROM workers ORDER BY started_at, id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				w                  WorkerInfo
				started, beat, sms int64
				tasks              string
			)
			if err := rows.Scan(&w.ID, &w.Host, &w.PID, &w.Version, &w.Command, &started, &beat, &sms, &tasks); err != nil {
				return err
			}
			w.StartedAt, w.HeartbeatAt = fromMS(started), fromMS(beat)
			w.StaleAfter = time.Duration(sms) * time.Millisecond
			if err := json.Unmarshal([]byte(tasks), &w.Tasks); err != nil {
				return err
			}
			out = append(out, w)
		}
		return rows.Err()
	})
	return out, wrap("list workers", err)
}
