package pgqueue_test

import (
	"context"
	"slices"
	"testing"

	"github.com/sluicehq/sluice/queue"
)

// TestPruneCountWithoutFinishTime: a finished task without a finish time
// (written by another program) counts as older than every task with one,
// and among such tasks the higher id is the newer, as in SQLite.
func TestPruneCountWithoutFinishTime(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		count int
		want  []int64 // ids left (7 is queued)
	}{
		{"line among timed tasks", 3, []int64{4, 5, 6, 7}},
		{"line among untimed tasks", 5, []int64{2, 3, 4, 5, 6, 7}},
		{"nothing to do", 6, []int64{1, 2, 3, 4, 5, 6, 7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustStore(t, newClock())
			// Ids 1-3 have no finish time; 4-6 finished in order; 7 is queued.
			execSQL(t, s, `INSERT INTO tasks (id, job, state, finished_at) OVERRIDING SYSTEM VALUE VALUES
				(1, 'x', 'succeeded', NULL), (2, 'x', 'succeeded', NULL), (3, 'x', 'succeeded', NULL),
				(4, 'x', 'succeeded', 1000), (5, 'x', 'succeeded', 2000), (6, 'x', 'succeeded', 3000),
				(7, 'x', 'queued', NULL)`)
			if _, err := s.Prune(ctx, queue.Succeeded, queue.Keep{Count: tt.count}, 1); err != nil {
				t.Fatal(err)
			}
			rows, err := s.Pool().Query(ctx, "SELECT id FROM tasks ORDER BY id")
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for rows.Next() {
				var id int64
				if err := rows.Scan(&id); err != nil {
					t.Fatal(err)
				}
				got = append(got, id)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("left %v; want %v", got, tt.want)
			}
		})
	}
}
