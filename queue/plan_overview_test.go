package queue

import (
	"fmt"
	"math"
	"testing"
)

// TestOverviewQueriesUseIndexes checks that the web pages' reads walk the
// index holding their state, in its order, so their cost does not grow
// with the finished history.
func TestOverviewQueriesUseIndexes(t *testing.T) {
	db := historyDB(t)
	filters, fargs := failureFilters(FailureParams{Job: "x", Queue: "q", Text: "boom"})
	max := int64(math.MaxInt64)
	tests := []planCase{
		{"finished by queue", finishedByQueueSQL, []any{1, 2},
			want("INDEX tasks_state (state=? AND finished_at>? AND finished_at<?)")},
		{"failures page", fmt.Sprintf(failuresPageSQL, listColumns, ""), []any{max, max, 0, 51},
			want("INDEX tasks_state (state=? AND finished_at>? AND finished_at<?)")},
		{"failures page, filtered", fmt.Sprintf(failuresPageSQL, listColumns, filters),
			append([]any{max, max, 0, 51}, fargs...), want("INDEX tasks_state (state=? AND finished_at>? AND finished_at<?)")},
		{"scan bound", scanBoundSQL, []any{max, max, 0, 1999}, want("COVERING INDEX tasks_state (state=? AND finished_at>? AND finished_at<?)")},
		{"failure groups", failureGroupsSQL, []any{0, 1000}, want("INDEX tasks_state (state=? AND finished_at>?)")},
		{"succeeded page", fmt.Sprintf(finishedPageSQL, listColumns), []any{max, max, 51, "succeeded"},
			want("INDEX tasks_state (state=? AND finished_at<?)")},
		{"running page", fmt.Sprintf(runningPageSQL, listColumns), []any{0, 0, 51}, want("INDEX tasks_lease (lease_until>?)")},
		{"queued page", fmt.Sprintf(queuedPageSQL, listColumns), []any{max, 0, 0, 51}, want("INDEX tasks_due (priority<?)")},
	}
	checkPlans(t, db, tests)
}
