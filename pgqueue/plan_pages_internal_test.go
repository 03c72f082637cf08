package pgqueue

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluicehq/sluice/internal/pgtest"
	"github.com/sluicehq/sluice/queue"
)

// TestPageQueriesUseIndexes checks that the operator's reads walk the index
// holding their state, in its order, so their cost follows the page (or the
// last hour, or the sample), not the finished history. pgx prepares
// statements, and PostgreSQL may switch a prepared statement to a generic
// plan (one for any parameters) after a few runs; each statement is checked
// with both plans.
func TestPageQueriesUseIndexes(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	// A long history: 40,000 finished tasks against a small backlog.
	for _, q := range []string{
		`INSERT INTO tasks (job, priority, run_at, queue) SELECT 'x', i % 3, 1000 + i, 'q' || (i % 4) FROM generate_series(1, 2000) i`,
		`INSERT INTO tasks (job, state, finished_at, task_group) SELECT 'x', 'succeeded', i, 'g' || (i % 500) FROM generate_series(1, 20000) i`,
		`INSERT INTO tasks (job, state, finished_at, error, queue) SELECT 'j' || (i % 7), 'failed', i / 3, 'boom ' || (i % 50) || E'\nat line ' || i, 'q' || (i % 4)
			FROM generate_series(1, 20000) i`,
		`INSERT INTO tasks (job, state, lease_until, worker, attempt) SELECT 'x', 'running', i, 'w', 1 FROM generate_series(1, 50) i`,
		`ANALYZE tasks`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	filters, fargs := failureFilters(queue.FailureParams{Job: "j1", Queue: "q1", Text: "boom", FirstLine: "boom 3"})
	top := int64(math.MaxInt64)
	// A filtered page reads between the cursor and its scan bound (about
	// FailureScan failures): here the last 2,000 failures (3 a millisecond).
	bounded := fmt.Sprintf(failuresPageSQL, listColumns, filters+fmt.Sprintf(" AND (finished_at > $%d OR id >= $%d)", 5+len(fargs), 6+len(fargs)))
	boundedArgs := append(append([]any{top, top, 6000, 51}, fargs...), 6000, 18000)
	tests := []struct {
		name, sql string
		args      []any
		index     string
		ordered   bool // a listing: the index walk gives the order, no sort of every row it reads
	}{
		{"finished by queue", finishedByQueueSQL, []any{6000, 6050}, "tasks_state", false},
		{"done per minute", donePerMinuteSQL, []any{6000, 6050}, "tasks_state", false},
		{"failed in the day", failuresSQL, []any{6000, 5000, 6050}, "tasks_state", false},
		{"failures page", fmt.Sprintf(failuresPageSQL, listColumns, ""), []any{top, top, 0, 51}, "tasks_state", true},
		{"failures page, filtered", bounded, boundedArgs, "tasks_state", false},
		{"scan bound", scanBoundSQL, []any{top, top, 0, 1999}, "tasks_state", true},
		{"failure groups", failureGroupsSQL, []any{0, 1000}, "tasks_state", false},
		{"succeeded page", fmt.Sprintf(finishedPageSQL, listColumns), []any{top, top, 51, "succeeded"}, "tasks_state", true},
		{"failed page, deep", fmt.Sprintf(finishedPageSQL, listColumns), []any{3000, 9000, 51, "failed"}, "tasks_state", true},
		{"running page", fmt.Sprintf(runningPageSQL, listColumns), []any{math.MinInt64, math.MinInt64, 51}, "tasks_lease", false},
		{"queued page", fmt.Sprintf(queuedPageSQL, listColumns), []any{top, math.MinInt64, math.MinInt64, 51}, "tasks_due", true},
		{"group purge", purgeGroupSQL, []any{"g7"}, "tasks_group", false},
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stmt := fmt.Sprintf("plan_%d", i)
			if _, err := conn.Exec(ctx, "PREPARE "+stmt+" AS "+tt.sql); err != nil {
				t.Fatal(err)
			}
			for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
				if _, err := conn.Exec(ctx, "SET plan_cache_mode = "+mode); err != nil {
					t.Fatal(err)
				}
				plan := explain(t, conn.Conn(), stmt, tt.args)
				if strings.Contains(plan, "Seq Scan on tasks") || !strings.Contains(plan, tt.index) {
					t.Errorf("%s: the plan does not read through %s (no sequential scan of tasks):\n%s", mode, tt.index, plan)
				}
				if tt.ordered && sortsAll.MatchString(plan) {
					t.Errorf("%s: the plan sorts what it reads instead of walking %s in order:\n%s", mode, tt.index, plan)
				}
			}
		})
	}
}

// sortsAll finds a Sort node: one that reads every row before the first
// comes out. (An Incremental Sort of rows that tie on the index's order is fine.)
var sortsAll = regexp.MustCompile(`(?m)^\s*(->\s*)?Sort  \(`)

// explain returns the plan of EXECUTE stmt with args written as literals.
func explain(t *testing.T, conn *pgx.Conn, stmt string, args []any) string {
	t.Helper()
	lits := make([]string, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case string:
			lits[i] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
		default:
			lits[i] = fmt.Sprint(v)
		}
	}
	rows, err := conn.Query(context.Background(), "EXPLAIN EXECUTE "+stmt+"("+strings.Join(lits, ", ")+")")
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}
