package queue

import "testing"

// TestAdminQueriesUseIndexes checks that retention, retries and group
// summaries walk indexes instead of sorting or scanning the finished history.
func TestAdminQueriesUseIndexes(t *testing.T) {
	db := historyDB(t)
	tests := []planCase{
		{"prune by age", `SELECT id FROM tasks WHERE state = ?1 AND finished_at < ?2 ORDER BY finished_at, id LIMIT ?3`,
			[]any{"succeeded", 5, 500}, "INDEX tasks_state"},
		{"prune by count", `SELECT id FROM tasks WHERE state = ?1 AND (finished_at IS NULL OR finished_at < ?2 OR (finished_at = ?2 AND id < ?3))
			ORDER BY finished_at, id LIMIT ?4`, []any{"succeeded", 5, 5, 500}, "INDEX tasks_state"},
		{"unique key holder", activeKeySQL, []any{"k"}, "INDEX tasks_unique"},
		{"group summary", "SELECT task_group, state, count(*) FROM tasks WHERE task_group IS NOT NULL AND task_group = ? GROUP BY task_group, state",
			[]any{"g1"}, "INDEX tasks_group"},
		{"failures", `SELECT count(*) FROM tasks WHERE state = 'failed' AND finished_at >= ?1 AND finished_at <= ?2`,
			[]any{1, 2}, "INDEX tasks_state"},
	}
	checkPlans(t, db, tests)
}
