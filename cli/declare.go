package cli

import (
	"context"
	"errors"
	"slices"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/queue"
)

// syncDeclared makes the store's declared schedules match SLUICE_SCHEDULES,
// when it is set; drain and run call it at start.
func (e *env) syncDeclared(ctx context.Context, store queue.Backend) error {
	if e.declared == nil {
		return nil
	}
	res, err := store.SyncSchedules(ctx, slices.Clone(e.declared))
	if errors.Is(err, queue.ErrScheduleExists) {
		// A declared name taken by 'sluice schedule add': restarting will
		// not help, fix the declaration (exit 78).
		return &config.Error{Problems: []string{"SLUICE_SCHEDULES: " + err.Error()}}
	}
	if err != nil {
		return err
	}
	if len(res.Added)+len(res.Updated)+len(res.Removed) > 0 {
		e.log.Info("declared schedules synced", "added", res.Added, "updated", res.Updated, "removed", res.Removed)
	}
	return nil
}
