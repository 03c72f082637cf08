package web_test

import (
	"context"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/pgtest"
	"github.com/sluicehq/sluice/pgqueue"
	"github.com/sluicehq/sluice/web"
)

// BenchmarkPagesPostgres answers each page of BenchmarkPages from a
// PostgreSQL database holding the same history (built in SQL, in about
// half a minute, on a fresh database each run).
func BenchmarkPagesPostgres(b *testing.B) {
	ctx := context.Background()
	now := func() time.Time { return benchNow }
	store, err := pgqueue.Open(ctx, pgtest.URL(b), pgqueue.NewOpts{Now: now})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	span := int64(benchDays * 24 * time.Hour / time.Millisecond)
	for _, st := range []struct {
		sql  string
		args []any
	}{
		// Finished tasks spread evenly over benchDays before benchNow, newest id latest; one in 50 failed.
		{`INSERT INTO tasks (job, queue, payload, state, attempt, max_attempts, run_at, created_at, started_at,
			finished_at, duration_ms, error, history)
		SELECT 'job_' || (i % 20), 'q' || (i % 4), '{"n":1}', CASE WHEN i % 50 = 0 THEN 'failed' ELSE 'succeeded' END, 1, 3,
			f - 1000, f - 1000, f - i % 900, f, i % 900,
			CASE WHEN i % 50 = 0 THEN 'error kind ' || (i % 7) || E'\n' || 'detail of task ' || i END,
			jsonb_build_array(jsonb_build_object('attempt', 1, 'outcome', CASE WHEN i % 50 = 0 THEN 'failed' ELSE 'succeeded' END,
				'started_at', f - i % 900, 'duration_ms', i % 900))
		FROM (SELECT i, $1::bigint - ($2::bigint - i) * $3::bigint / $2::bigint AS f FROM generate_series(1, $2::bigint) i) g`,
			[]any{benchNow.UnixMilli(), benchTasks, span}},
		{`INSERT INTO tasks (job, queue, payload, run_at, created_at)
		SELECT 'job_' || (i % 20), 'q' || (i % 4), '{"n":1}', $1::bigint, $1::bigint FROM generate_series(1, $2::bigint) i`,
			[]any{benchNow.UnixMilli(), benchQueued}},
		{`ANALYZE tasks`, nil},
	} {
		if _, err := store.Pool().Exec(ctx, st.sql, st.args...); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	benchPages(b, web.Handler(store, web.Opts{Now: now}))
}
