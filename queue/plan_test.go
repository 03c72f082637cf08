package queue

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/driver"

	"github.com/sluicehq/sluice/sqlitewal"
)

// TestHotQueriesUseIndexes checks with EXPLAIN QUERY PLAN that the claim and
// lease-recovery statements walk indexes and never sort or scan
// the whole table, so their cost does not grow with the finished history.
func TestHotQueriesUseIndexes(t *testing.T) {
	db := historyDB(t)
	tests := []planCase{
		{"claim", claimAllSQL, []any{"w", 1, 1, 1, 10, 1, 1, 0}, want("INDEX tasks_due")},
		{"claim by queue", claimQueuesSQL, []any{"w", 1, 1, 1, 10, 1, 1, 0, `["a"]`}, want("INDEX tasks_due")},
		{"recover expired leases", recoverExpiredSQL, []any{1, 1, "x", "y"}, want("INDEX tasks_lease (lease_until<?)",
			"INDEX tasks_lease (lease_until=?)", "INDEX tasks_lease (lease_until>?)")},
		{"recover dead workers' tasks", recoverDeadSQL, []any{1, 1, "x", "y", `["w"]`}, want("INDEX tasks_lease")},
		{"next schedule", nextScheduleSQL, nil, want("schedules_due")},
		{"next wakeup", fmt.Sprintf(nextWakeupSQL, "", "min(v)"), nil, want("COVERING INDEX tasks_due (priority<?)",
			"COVERING INDEX tasks_lease")},
		{"remaining", fmt.Sprintf(remainingSQL, ""), []any{1, "w"}, want("INDEX tasks_due", "INDEX tasks_lease")},
		{"remaining in queues", fmt.Sprintf(remainingSQL, remainingInQueues), []any{1, "w", `["a"]`},
			want("INDEX tasks_due", "INDEX tasks_lease")},
		{"queue stats", statsSQL, []any{1}, want("USING INDEX tasks_due", "USING INDEX tasks_lease")},
	}
	checkPlans(t, db, tests)
}

// planCase is a statement whose query plan must show every text in want.
type planCase struct {
	name, sql string
	args      []any
	want      []string
}

func want(texts ...string) []string { return texts }

// historyDB opens a database holding 2,000 finished tasks in 10 groups, so
// the planner has a reason to prefer a wrong index.
func historyDB(t *testing.T) *sqlitewal.DB {
	t.Helper()
	db, err := sqlitewal.Open(context.Background(), filepath.Join(t.TempDir(), "q.db"), sqlitewal.Options{Migrations: Migrations})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Write.Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 2000)
		INSERT INTO tasks (job, state, finished_at, task_group) SELECT 'x', 'succeeded', i, 'g' || (i % 10) FROM n`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Write.Exec("ANALYZE"); err != nil {
		t.Fatal(err)
	}
	return db
}

// checkPlans checks with EXPLAIN QUERY PLAN that each statement uses its
// index and neither sorts nor scans the whole table.
func checkPlans(t *testing.T, db *sqlitewal.DB, tests []planCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := db.Read.Query("EXPLAIN QUERY PLAN "+tt.sql, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			joined := strings.Join(plan, "\n")
			ok := !strings.Contains(joined+"\n", "SCAN tasks\n")
			for _, line := range plan { // "FOR ORDER BY", "FOR LAST TERM OF ORDER BY"
				ok = ok && !(strings.Contains(line, "TEMP B-TREE") && strings.Contains(line, "ORDER BY"))
			}
			for _, w := range tt.want {
				ok = ok && strings.Contains(joined, w)
			}
			if !ok {
				t.Errorf("plan:\n%s\nwant %q with no sort and no full scan", joined, tt.want)
			}
		})
	}
}

// TestClaimIsNotRecompiled checks that binding a new limit to the claim does
// not make SQLite compile it again (see claimSQL): a worker sizes every claim
// by demand, so a recompile would come with every exchange.
func TestClaimIsNotRecompiled(t *testing.T) {
	ctx := context.Background()
	db, err := sqlitewal.Open(ctx, filepath.Join(t.TempDir(), "q.db"), sqlitewal.Options{Migrations: Migrations})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Write.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, q := range []string{claimAllSQL, claimQueuesSQL} {
		err := conn.Raw(func(dc any) error {
			st, _, err := dc.(driver.Conn).Raw().Prepare(q)
			if err != nil {
				return err
			}
			defer st.Close()
			for limit := range 5 {
				st.BindText(1, "w")           // worker
				st.BindInt64(2, 1)            // now
				st.BindInt64(3, 1000)         // default timeout
				st.BindInt64(4, 1000)         // lease margin
				st.BindInt(5, limit+1)        // limit
				st.BindInt(6, 3)              // default max attempts
				st.BindText(7, `["default"]`) // queues (claimQueuesSQL only)
				for st.Step() {
				}
				if err := st.Reset(); err != nil {
					return err
				}
			}
			if n := st.Status(sqlite3.STMTSTATUS_REPREPARE, false); n != 0 {
				t.Errorf("claim compiled again %d times for 5 limits", n)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
