package cli_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/cli"
	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/schedule"
)

func TestDrainWritesMetricsFile(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "sluice.db")
	prom := filepath.Join(dir, "sluice.prom")
	env := []string{"SLUICE_METRICS_FILE=" + prom}
	succeeded := func() float64 {
		t.Helper()
		got := counter(readProm(t, prom), "sluice_tasks_total", map[string]string{"job": "echo_test", "outcome": "succeeded"})
		if got < 0 {
			t.Fatalf("no sluice_tasks_total{job=echo_test,outcome=succeeded} in %s", prom)
		}
		return got
	}

	for range 3 {
		run(t, db, nil, "", "enqueue", "echo_test", "{}")
	}
	if r := run(t, db, env, "", "drain"); r.code != 0 {
		t.Fatalf("drain: %d %s", r.code, r.stderr)
	}
	if got := succeeded(); got != 3 {
		t.Errorf("after the first drain: %v succeeded; want 3", got)
	}
	run(t, db, nil, "", "enqueue", "echo_test", "{}")
	if r := run(t, db, env, "", "drain"); r.code != 0 {
		t.Fatalf("drain: %d %s", r.code, r.stderr)
	}
	if got := succeeded(); got != 4 {
		t.Errorf("after the second drain: %v succeeded; want 4 (counters add up across drains)", got)
	}

	t.Run("bad settings fail before any task runs", func(t *testing.T) {
		run(t, db, nil, "", "enqueue", "echo_test", "{}")
		for _, c := range []struct {
			file string
			code int
			want string
		}{
			{filepath.Join(dir, "sluice.txt"), 78, "must end in .prom"},
			{filepath.Join(dir, "missing", "sluice.prom"), 1, "SLUICE_METRICS_FILE: folder"},
		} {
			r := run(t, db, []string{"SLUICE_METRICS_FILE=" + c.file}, "", "drain")
			if r.code != c.code || !strings.Contains(r.stderr, c.want) {
				t.Errorf("%s: exit %d, stderr %q; want %d and %q", c.file, r.code, r.stderr, c.code, c.want)
			}
		}
		s, err := queue.Open(context.Background(), db)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if counts, _ := s.Counts(context.Background()); counts[queue.Queued] != 1 {
			t.Errorf("%d tasks queued; want 1 (nothing ran)", counts[queue.Queued])
		}
	})
}

// TestDrainCountsSchedulesFired: a drain with SLUICE_METRICS_FILE counts the
// tasks its firing of schedules enqueued, one per due time.
func TestDrainCountsSchedulesFired(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sluice.db")
	prom := filepath.Join(dir, "sluice.prom")
	ctx := context.Background()
	// Every 10 minutes, fired last 65 minutes ago: catch-up all gives 6 more.
	clk := &clock{t: time.Now().Truncate(time.Second).Add(-65 * time.Minute)}
	s := storeAt(t, path, clk)
	if _, err := s.AddSchedule(ctx, queue.ScheduleParams{Name: "every10", Job: "echo_test", CatchUp: schedule.CatchUpAll,
		Spec: schedule.Spec{Type: schedule.Minutes, Every: 10}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FireDue(ctx); err != nil {
		t.Fatal(err)
	}
	m := &cli.Main{Environ: environ(path, "SLUICE_METRICS_FILE="+prom)}
	if err := m.Run(ctx, []string{"drain"}); err != nil {
		t.Fatal(err)
	}
	got := counter(readProm(t, prom), "sluice_schedules_fired_total", map[string]string{"schedule": "every10"})
	want := queryInt(t, s.DB().Read, "SELECT count(*) FROM tasks WHERE schedule_id IS NOT NULL") - 1 // less the firing before the drain
	if got != float64(want) || want != 6 {
		t.Errorf("sluice_schedules_fired_total{schedule=every10} = %v; the drain fired %d tasks, want 6", got, want)
	}
}
