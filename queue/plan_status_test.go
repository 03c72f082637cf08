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
		{"counts", countsSQL, nil, want("COVERING INDEX tasks_due", "COVERING INDEX tasks_state")},
	}
	checkPlans(t, db, tests)

	var lists []planCase
	for _, l := range []struct {
		name string
		p    ListParams
		want []string
	}{
		{"list failed", ListParams{States: []State{Failed}, Limit: 50}, want("INDEX tasks_state (state=?)")},
		{"list two finished states", ListParams{States: []State{Failed, Cancelled}, Queue: "q"},
			want("INDEX tasks_state (state=?)")},
		{"list queued", ListParams{States: []State{Queued}, Limit: 50}, want("INDEX tasks_due")},
		{"list queued and running", ListParams{States: []State{Queued, Running}, Job: "j"},
			want("INDEX tasks_due", "INDEX tasks_state (state=?)")},
	} {
		q, args, err := listQuery(l.p)
		if err != nil {
			t.Fatal(err)
		}
		lists = append(lists, planCase{name: l.name, sql: q, args: args, want: l.want})
	}
	checkPlansSorting(t, db, lists, true)
}
