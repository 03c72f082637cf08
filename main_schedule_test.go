package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/schedule"
)

// TestTenDrainsFireSchedulesOncePerDueTime starts ten drains together on
// one database, on each store, over schedules whose due times have passed:
// two every-10-minutes schedules an hour behind (catch-up "all": seven due
// times each), a once schedule, and one declared in SLUICE_SCHEDULES that
// every drain syncs. Each due time must yield exactly one task, and every
// task must succeed.
func TestTenDrainsFireSchedulesOncePerDueTime(t *testing.T) {
	forEachStore(t, func(t *testing.T, k storeKind) {
		db := k.newDB(t)
		start := time.Now().Truncate(time.Second).Add(-65 * time.Minute)
		past := openBackend(t, db, func() time.Time { return start }) // adds schedules as if an hour ago
		ctx := context.Background()
		add := func(name string, spec schedule.Spec) {
			t.Helper()
			if _, err := past.AddSchedule(ctx, queue.ScheduleParams{Name: name, Job: "echo_test",
				CatchUp: schedule.CatchUpAll, Spec: spec}); err != nil {
				t.Fatal(err)
			}
		}
		add("a", schedule.Spec{Type: schedule.Minutes, Every: 10, Start: start})
		add("b", schedule.Spec{Type: schedule.Minutes, Every: 10, Start: start})
		add("once", schedule.Spec{Type: schedule.Once, Start: start.Add(5 * time.Minute)})
		want := map[string]int{"a": 7, "b": 7, "once": 1, "declared": 1} // a and b: start, +10m, ..., +60m

		env := []string{`SLUICE_SCHEDULES=[{"name":"declared","job":"echo_test","type":"minutes","every":10}]`}
		drains := make([]*exec.Cmd, 10)
		outs := make([]bytes.Buffer, len(drains))
		for i := range drains {
			drains[i] = sluice(t, db, env, "drain")
			drains[i].Stdout, drains[i].Stderr = &outs[i], &outs[i]
		}
		for _, d := range drains {
			if err := d.Start(); err != nil {
				t.Fatal(err)
			}
		}
		for i, d := range drains {
			if err := waitExit(t, d, time.Minute); err != nil {
				t.Errorf("drain %d: %v\n%s", i, err, outs[i].String())
			}
		}

		s := openBackend(t, db, nil)
		names := map[int64]string{}
		schedules, err := s.ListSchedules(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, sc := range schedules {
			names[sc.ID] = sc.Name
		}
		tasks, err := s.List(ctx, queue.ListParams{})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		seen := map[string]bool{} // schedule and due time
		for _, task := range tasks {
			due := fmt.Sprintf("%s@%s", names[task.ScheduleID], task.ScheduledFor.Format(time.RFC3339Nano))
			if seen[due] {
				t.Errorf("task %d: a second task for %s", task.ID, due)
			}
			seen[due] = true
			got[names[task.ScheduleID]]++
			if task.State != queue.Succeeded {
				t.Errorf("task %d (%s) ended %s", task.ID, due, task.State)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("tasks per schedule = %v; want %v", got, want)
		}
	})
}
