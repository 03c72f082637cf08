package pgqueue

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluicehq/sluice/internal/pgtest"
	"github.com/sluicehq/sluice/queue"
)

// TestHotQueriesUseIndexes checks the plans of the statements that run all
// the time, on a table large enough (and analyzed) for the planner to
// prefer the indexes a big queue needs: no scan of the whole table, and a
// claim that walks tasks_due in order and stops at its limit (no sort).
// Counts, Stats and Status read every task of the states they count, for
// which PostgreSQL rightly picks a sequential scan when those states are
// much of the table; they are left out.
func TestHotQueriesUseIndexes(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO tasks (job, priority, run_at, queue) SELECT 'x', i % 3, 1000 + i, 'q' || (i % 4) FROM generate_series(1, 20000) i`,
		`INSERT INTO tasks (job, state, finished_at) SELECT 'x', 'succeeded', i FROM generate_series(1, 20000) i`,
		`INSERT INTO tasks (job, state, lease_until, worker, attempt) SELECT 'x', 'running', i, 'w', 1 FROM generate_series(1, 50) i`,
		`ANALYZE tasks`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	claimQ, claimArgs := claimQuery(queue.ClaimParams{Worker: "w", Limit: 25}, nil)
	queuesQ, queuesArgs := claimQuery(queue.ClaimParams{Worker: "w", Limit: 25, Queues: []string{"q1"}}, nil)
	outArgs, _, _ := outcomeArgs([]queue.Outcome{{ID: 1, Attempt: 1, Kind: queue.Succeed}}, "w", nil, time.Now())
	tests := []struct {
		name, sql string
		args      []any
		want      []string // every one of these in the plan
	}{
		{"claim", claimQ, claimArgs, []string{"Index Scan using tasks_due"}},
		{"claim by queue", queuesQ, queuesArgs, []string{"Index Scan using tasks_due"}},
		{"recover leases", recoverExpiredSQL, expiredArgs(nil, 3), []string{"tasks_lease"}},
		{"recover dead workers", recoverDeadSQL, recoverArgs(nil, 3, ""), []string{"tasks_lease"}},
		{"recover a worker", recoverWorkerSQL, recoverArgs(nil, 3, "w"), []string{"tasks_lease"}},
		{"outcomes", outcomesSQL, outArgs, []string{"tasks_pkey"}},
		{"next wakeup", fmt.Sprintf(nextWakeupSQL, "", maxMS), nil, []string{"tasks_due", "tasks_lease"}},
		{"prune by age", pruneAgeSQL, []any{"succeeded", 100, 500}, []string{"tasks_state"}},
		// Retention by count runs every minute on every worker: it walks
		// tasks_state from the end, not the whole finished history.
		// (pruneNullLineSQL runs only when fewer tasks than the count
		// have a finish time.)
		{"prune line", pruneLineSQL, []any{"succeeded", 99}, []string{"tasks_state"}},
		{"prune by count", pruneCountSQL, []any{"succeeded", 100, 100, 500}, []string{"tasks_state"}},
		{"prune without finish time", pruneNullSQL, []any{"succeeded", maxMS, 500}, []string{"tasks_state"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := pool.Query(ctx, "EXPLAIN "+tt.sql, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatal(err)
			}
			plan := strings.Join(lines, "\n")
			bad := strings.Contains(plan, "Seq Scan on tasks") ||
				strings.HasPrefix(tt.name, "claim") && strings.Contains(plan, "Sort")
			for _, w := range tt.want {
				bad = bad || !strings.Contains(plan, w)
			}
			if bad {
				t.Errorf("plan does not use %v as it should (no sequential scan of tasks, no sorted claim):\n%s", tt.want, plan)
			}
		})
	}
}
