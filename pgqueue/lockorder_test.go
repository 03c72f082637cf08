package pgqueue_test

import (
	"context"
	"testing"
	"time"

	"github.com/sluicehq/sluice/pgqueue"
)

// TestAdminLocksInIDOrder: operator calls lock the tasks they change in id
// order, whatever order the caller gives, as Cancel does; two calls locking
// in different orders would wait on each other until PostgreSQL breaks the
// deadlock by failing one. Another transaction holds task 1 and then locks
// task 2 (Cancel's order) while the call waits: a call that had taken
// task 2 first would deadlock with it.
func TestAdminLocksInIDOrder(t *testing.T) {
	tests := []struct {
		name string
		call func(context.Context, *pgqueue.Store) error
	}{
		{"retry", func(ctx context.Context, s *pgqueue.Store) error { return s.Retry(ctx, []int64{2, 1}) }},
		{"purge group", func(ctx context.Context, s *pgqueue.Store) error {
			_, err := s.PurgeGroup(ctx, "g", false, false)
			return err
		}},
		{"ungroup", func(ctx context.Context, s *pgqueue.Store) error {
			_, err := s.PurgeGroup(ctx, "g", true, false)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			s := mustStore(t, nil)
			// In tasks_group's order (group, state) task 2 comes first.
			execSQL(t, s, `INSERT INTO tasks (id, job, state, finished_at, task_group) OVERRIDING SYSTEM VALUE
				VALUES (1, 'x', 'failed', 1, 'g'), (2, 'x', 'cancelled', 2, 'g')`)
			other, err := s.Pool().Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer other.Rollback(ctx)
			if _, err := other.Exec(ctx, "SELECT FROM tasks WHERE id = 1 FOR UPDATE"); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- tt.call(ctx, s) }()
			waitForLockWait(t, s)
			if _, err := other.Exec(ctx, "SELECT FROM tasks WHERE id = 2 FOR UPDATE"); err != nil {
				t.Fatalf("the other transaction, locking task 2 after task 1: %v", err)
			}
			if err := other.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
		})
	}
}

// waitForLockWait returns once a session of s's database waits on a lock.
func waitForLockWait(tb testing.TB, s *pgqueue.Store) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		err := s.Pool().QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n)
		if err != nil {
			tb.Fatal(err)
		}
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatal("no session waits on a lock")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
