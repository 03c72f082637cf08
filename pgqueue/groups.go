package pgqueue

import (
	"context"
	"fmt"

	"github.com/sluicehq/sluice/queue"
)

// Django-Q2's delete_group, on the finished tasks of one group (the
// tasks_group index finds them).
const (
	purgeGroupSQL = `DELETE FROM tasks WHERE task_group = $1 AND state IN ('succeeded', 'failed', 'cancelled')`
	ungroupSQL    = `UPDATE tasks SET task_group = NULL WHERE task_group = $1 AND state IN ('succeeded', 'failed', 'cancelled')`
	countGroupSQL = `SELECT count(*) FROM tasks WHERE task_group = $1 AND state IN ('succeeded', 'failed', 'cancelled')`
)

// PurgeGroup deletes the finished tasks (succeeded, failed, cancelled) of
// group, in one statement, and returns how many went, as
// queue.Store.PurgeGroup. With ungroup it keeps them and clears their group
// instead; with dryRun it only counts. Queued and running tasks are left
// alone: they still belong to the group.
func (s *Store) PurgeGroup(ctx context.Context, group string, ungroup, dryRun bool) (int, error) {
	if group == "" {
		return 0, fmt.Errorf("purge group: %w: group is empty", queue.ErrInvalid)
	}
	if dryRun {
		var n int
		err := s.pool.QueryRow(ctx, countGroupSQL, group).Scan(&n)
		return n, wrap("count group", err)
	}
	q, op := purgeGroupSQL, "purge group"
	if ungroup {
		q, op = ungroupSQL, "ungroup"
	}
	tag, err := s.pool.Exec(ctx, q, group)
	if err != nil {
		return 0, fmt.Errorf("%s %q: %w", op, group, err)
	}
	return int(tag.RowsAffected()), nil
}
