package pgqueue

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/queue"
)

// RunSchedule adds one task of the schedule called name, due now, as a
// firing would, without changing when the schedule fires next: an
// operator's "run now". The task records the schedule and now (the
// database's clock) as the time it stands for. It returns the task's id;
// queue.ErrScheduleNotFound when there is no such schedule.
func (s *Store) RunSchedule(ctx context.Context, name string) (int64, error) {
	var id int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		sc, err := queue.ScanSchedule(tx.QueryRow(ctx, "SELECT "+queue.ScheduleColumns+" FROM schedules WHERE name = $1", name))
		if errors.Is(err, pgx.ErrNoRows) {
			err = queue.ErrScheduleNotFound
		}
		if err != nil {
			return err
		}
		now, err := s.readNow(ctx, tx)
		if err != nil {
			return err
		}
		err = tx.QueryRow(ctx, insertScheduledSQL, sc.Job, string(sc.Payload), sc.Queue, sc.Priority, now.UnixMilli(),
			nullInt(int64(sc.MaxAttempts)), nullInt(sc.Timeout.Milliseconds()), sc.ID, now.UnixMilli()).Scan(&id)
		if err != nil {
			return fmt.Errorf("insert task: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("run schedule %q: %w", name, err)
	}
	s.notify()
	return id, nil
}
