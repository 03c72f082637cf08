package web_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/sqlitewal"
	"github.com/sluicehq/sluice/web"
)

// benchTasks is the history the page benchmark reads: finished tasks over
// 30 days (one in 50 failed, with 7 kinds of error), plus a backlog of
// benchQueued queued tasks.
const (
	benchTasks  = 1_000_000
	benchQueued = 1_000
	benchDays   = 30
)

// benchNow is the benchmark's clock: the history ends here, so the pages'
// windows (the last hour, day, week) hold the same tasks on every run.
var benchNow = time.Date(2026, 1, 31, 12, 0, 0, 0, time.UTC)

// benchDB returns the path of the benchmark's database, built once and kept
// in the temporary folder (building it takes a minute; delete the file to
// build it again).
func benchDB(b *testing.B) string {
	b.Helper()
	path := filepath.Join(os.TempDir(), fmt.Sprintf("sluice-web-bench-%d-v1.db", benchTasks))
	if _, err := os.Stat(path); err == nil {
		return path
	}
	b.Logf("building %s: %d tasks", path, benchTasks)
	tmp := path + ".building"
	os.Remove(tmp)
	ctx := context.Background()
	db, err := sqlitewal.Open(ctx, tmp, queue.OpenOptions())
	if err != nil {
		b.Fatal(err)
	}
	store := queue.New(db, queue.NewOpts{Now: func() time.Time { return benchNow }})
	batch := make([]queue.EnqueueParams, 10_000)
	for i := range batch {
		batch[i] = queue.EnqueueParams{Job: fmt.Sprintf("job_%d", i%20), Queue: fmt.Sprintf("q%d", i%4),
			Payload: []byte(`{"n":1}`)}
	}
	for n := 0; n < benchTasks+benchQueued; n += len(batch) {
		if _, err := store.EnqueueMany(ctx, batch[:min(len(batch), benchTasks+benchQueued-n)]); err != nil {
			b.Fatal(err)
		}
	}
	// Finish all but the last benchQueued tasks, newest id latest, spread
	// evenly over benchDays before benchNow.
	span := int64(benchDays * 24 * time.Hour / time.Millisecond)
	_, err = db.Write.Exec(`UPDATE tasks SET
		state = CASE WHEN id % 50 = 0 THEN 'failed' ELSE 'succeeded' END,
		attempt = 1, max_attempts = 3,
		finished_at = ?1 - (?2 - id) * ?3 / ?2,
		started_at = ?1 - (?2 - id) * ?3 / ?2 - id % 900,
		duration_ms = id % 900,
		error = CASE WHEN id % 50 = 0 THEN 'error kind ' || (id % 7) || char(10) || 'detail of task ' || id END,
		history = json_array(json_object('attempt', 1, 'outcome', CASE WHEN id % 50 = 0 THEN 'failed' ELSE 'succeeded' END,
			'started_at', ?1 - (?2 - id) * ?3 / ?2 - id % 900, 'duration_ms', id % 900))
		WHERE id <= ?2`, benchNow.UnixMilli(), benchTasks, span)
	if err == nil {
		_, err = db.Write.Exec("ANALYZE")
	}
	if err = errors.Join(err, db.Close()); err != nil {
		b.Fatal(err)
	}
	os.Remove(tmp + "-wal")
	os.Remove(tmp + "-shm")
	if err := os.Rename(tmp, path); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkPages answers each page from a database holding 1,000,000
// finished tasks (BENCHMARKS.md: each must take under 50 ms).
func BenchmarkPages(b *testing.B) {
	ctx := context.Background()
	opts := queue.OpenOptions()
	opts.ReadOnly = true
	db, err := sqlitewal.Open(ctx, benchDB(b), opts)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	now := func() time.Time { return benchNow }
	store := queue.New(db, queue.NewOpts{Now: now})
	h := web.Handler(store, web.Opts{Now: now})
	benchPages(b, h)
}

// benchPages answers each page of h, whose store holds the history of benchDB.
func benchPages(b *testing.B, h http.Handler) {
	deep := fmt.Sprintf("0.%d.%d", benchNow.Add(-20*24*time.Hour).UnixMilli(), benchTasks/3)
	for _, p := range []struct{ name, path string }{
		{"overview", "/"},
		{"failures", "/failures"},
		{"failures_all_time", "/failures?since=all"},
		{"failures_text", "/failures?q=kind+3"},
		{"failures_text_no_match_7d", "/failures?q=nowhere"},
		{"failures_text_no_match_all_time", "/failures?q=nowhere&since=all"},
		{"failures_group", "/failures?group=error+kind+5"},
		{"failures_deep_page", "/failures?since=all&before=" + deep},
		{"task", fmt.Sprintf("/tasks/%d", benchTasks/2)},
		{"tasks_succeeded", "/tasks?state=succeeded"},
		{"tasks_succeeded_deep_page", "/tasks?state=succeeded&after=" + deep},
		{"tasks_failed", "/tasks?state=failed"},
		{"tasks_queued", "/tasks?state=queued"},
		{"tasks_cancelled_none", "/tasks?state=cancelled"},
		{"schedules", "/schedules"},
	} {
		b.Run(p.name, func(b *testing.B) {
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p.path, nil))
				if rec.Code != http.StatusOK {
					b.Fatalf("%s: %d", p.path, rec.Code)
				}
			}
		})
	}
}
