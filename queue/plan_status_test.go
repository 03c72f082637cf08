package queue

import "testing"

// TestAdminQueriesUseIndexes checks that retention, retries and group
// summaries walk indexes instead of sorting or scanning the finished history.
func TestAdminQueriesUseIndexes(t *testing.T) {
	db := historyDB(t)
	tests := []planCase{
		{"prune by age", pruneAgeSQL, []any{"succeeded", 5, 500}, want("INDEX tasks_state (state=? AND finished_at<?)")},
		{"prune line", pruneLineSQL, []any{"succeeded", 5}, want("INDEX tasks_state (state=?)")},
		{"prune by count", pruneCountSQL, []any{"succeeded", 5, 5, 500}, want("INDEX tasks_state (state=?)")},
		{"prune by count, no finish time", pruneCountNullSQL, []any{"succeeded", nil, 5, 500},
			want("INDEX tasks_state (state=? AND finished_at=?")},
		{"unique key holder", activeKeySQL, []any{"k"}, want("INDEX tasks_unique")},
		{"group summary", "SELECT task_group, state, count(*) FROM tasks WHERE task_group IS NOT NULL AND task_group = ? GROUP BY task_group, state",
			[]any{"g1"}, want("INDEX tasks_group")},
		{"failures", failuresSQL, []any{1, 2, 3}, want("INDEX tasks_state (state=? AND finished_at>? AND finished_at<?)")},
		{"done per minute", donePerMinuteSQL, []any{1, 2}, want("INDEX tasks_state (state=? AND finished_at>? AND finished_at<?)")},
		{"counts", countsSQL, nil, want("COVERING INDEX tasks_due", "COVERING INDEX tasks_lease", "COVERING INDEX tasks_state")},
	}
	checkPlans(t, db, tests)
}
