package pgqueue

import (
	"context"
	"fmt"

	"github.com/sluicehq/sluice/queue"
)

// Django-Q2's delete_group, on the finished tasks of one group (the
// tasks_group index finds them). groupLockSQL locks them in id order first,
// as Cancel and Retry lock theirs, so that none waits on another in a cycle.
const (
	groupLockSQL = `id = ANY(ARRAY(SELECT id FROM tasks
		WHERE task_group = $1 AND state IN ('succeeded', 'failed', 'cancelled') ORDER BY id FOR UPDATE))
		AND state IN ('succeeded', 'failed', 'cancelled')`
	purgeGroupSQL = `DELETE FROM tasks WHERE ` + groupLockSQL
	ungroupSQL    = `UPDATE tasks SET task_group = NULL WHERE ` + groupLockSQL
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
