package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// RunSchedule adds one task of the schedule called name, due now, as a
// firing would, without changing when the schedule fires next: an
// operator's "run now". The task records the schedule and now as the time
// it stands for. It returns the task's id.
func (s *Store) RunSchedule(ctx context.Context, name string) (int64, error) {
	tx, err := s.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return 0, wrap("run schedule", err)
	}
	defer tx.Rollback()
	sc, err := ScanSchedule(tx.QueryRowContext(ctx, "SELECT "+ScheduleColumns+" FROM schedules WHERE name = ?", name))
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrScheduleNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("run schedule %q: %w", name, err)
	}
	now := s.now()
	id, err := insertScheduled(ctx, tx, sc, now, now)
	if err != nil {
		return 0, fmt.Errorf("run schedule %q: %w", name, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("run schedule %q: %w", name, err)
	}
	s.notify()
	return id, nil
}
