package queue_test

import (
	"context"
	"io/fs"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/sqlitewal"
)

// TestUpgradeFromVersion4 opens a database made by the schema before
// migration 0005 (tasks_state over every task), with tasks in every state,
// and checks that the upgrade keeps every task and counts them right.
func TestUpgradeFromVersion4(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "q.db")
	old := fstest.MapFS{}
	for _, name := range []string{"0001_tasks.sql", "0002_schedules.sql", "0003_status_unique.sql", "0004_contract.sql"} {
		data, err := fs.ReadFile(queue.Migrations, name)
		if err != nil {
			t.Fatal(err)
		}
		old[name] = &fstest.MapFile{Data: data}
	}
	db, err := sqlitewal.Open(ctx, path, sqlitewal.Options{Migrations: old})
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Write.Exec(`INSERT INTO tasks (job, state, finished_at, worker) VALUES
		('a', 'queued', NULL, NULL), ('b', 'queued', NULL, NULL), ('c', 'running', NULL, 'w'),
		('d', 'succeeded', 1, NULL), ('e', 'failed', 2, NULL), ('f', 'cancelled', 3, NULL)`)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := queue.Open(ctx, path)
	if err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	defer s.Close()
	var version int
	if err := s.DB().Read.QueryRow("PRAGMA user_version").Scan(&version); err != nil || version < 5 {
		t.Fatalf("user_version = %d, %v; want at least 5", version, err)
	}
	counts, err := s.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[queue.State]int{queue.Queued: 2, queue.Running: 1, queue.Succeeded: 1, queue.Failed: 1, queue.Cancelled: 1}
	for st, n := range want {
		if counts[st] != n {
			t.Errorf("%s = %d; want %d (all counts: %v)", st, counts[st], n, counts)
		}
	}
	// tasks_state became partial over finished tasks, tasks_lease over running ones.
	for index, want := range map[string]struct {
		where string
		n     int
	}{
		"tasks_state": {"state = 'succeeded' OR state = 'failed' OR state = 'cancelled'", 3},
		"tasks_lease": {"state = 'running'", 1},
	} {
		var partial bool
		if err := s.DB().Read.QueryRow("SELECT partial FROM pragma_index_list('tasks') WHERE name = ?", index).Scan(&partial); err != nil || !partial {
			t.Fatalf("%s partial = %v, %v; want a partial index", index, partial, err)
		}
		var n int
		if err := s.DB().Read.QueryRow("SELECT count(*) FROM tasks INDEXED BY " + index + " WHERE " + want.where).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != want.n {
			t.Errorf("%s holds %d tasks; want %d", index, n, want.n)
		}
	}
}
