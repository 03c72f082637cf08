package queue

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/sqlitewal"
)

// TestAdminQueriesUseIndexes checks that retention, retries and group
// summaries walk indexes instead of sorting or scanning the finished history.
func TestAdminQueriesUseIndexes(t *testing.T) {
	db, err := sqlitewal.Open(context.Background(), filepath.Join(t.TempDir(), "q.db"), sqlitewal.Options{Migrations: Migrations})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Write.Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 2000)
		INSERT INTO tasks (job, state, finished_at, task_group) SELECT 'x', 'succeeded', i, 'g' || (i % 10) FROM n`); err != nil {
		t.Fatal(err)
	}
	db.Write.Exec("ANALYZE")
	tests := []struct {
		name, sql string
		args      []any
		want      string
	}{
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
			if !strings.Contains(joined, tt.want) || strings.Contains(joined, "TEMP B-TREE FOR ORDER BY") ||
				strings.Contains(joined+"\n", "SCAN tasks\n") {
				t.Errorf("plan:\n%s\nwant %s with no sort and no full scan", joined, tt.want)
			}
		})
	}
}
