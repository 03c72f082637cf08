package queue

import (
	"context"
	"fmt"
)

// Django-Q2's delete_group, on the finished tasks of one group (the
// tasks_group index finds them).
const (
	purgeGroupSQL   = `DELETE FROM tasks WHERE task_group = ?1 AND state IN ('succeeded', 'failed', 'cancelled')`
	ungroupSQL      = `UPDATE tasks SET task_group = NULL WHERE task_group = ?1 AND state IN ('succeeded', 'failed', 'cancelled')`
	countGroupSQL   = `SELECT count(*) FROM tasks WHERE task_group = ?1 AND state IN ('succeeded', 'failed', 'cancelled')`
	errGroupIsEmpty = "group is empty"
)

// PurgeGroup deletes the finished tasks (succeeded, failed, cancelled) of
// group, in one transaction, and returns how many went. With ungroup it
// keeps them and clears their group instead, as Django-Q2's
// delete_group(group) does without tasks=True. With dryRun it only counts.
// Queued and running tasks are left alone: they still belong to the group.
func (s *Store) PurgeGroup(ctx context.Context, group string, ungroup, dryRun bool) (int, error) {
	if group == "" {
		return 0, fmt.Errorf("purge group: %w: %s", ErrInvalid, errGroupIsEmpty)
	}
	if dryRun {
		var n int
		err := s.db.Read.QueryRowContext(ctx, countGroupSQL, group).Scan(&n)
		return n, wrap("count group", err)
	}
	q, op := purgeGroupSQL, "purge group"
	if ungroup {
		q, op = ungroupSQL, "ungroup"
	}
	res, err := s.db.Write.ExecContext(ctx, q, group)
	if err != nil {
		return 0, fmt.Errorf("%s %q: %w", op, group, err)
	}
	n, err := res.RowsAffected()
	return int(n), wrap(op, err)
}
