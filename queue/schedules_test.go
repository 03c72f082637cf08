package queue_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/schedule"
)

// noon is a round start for schedule tests.
var noon = time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)

func every10(name string) queue.ScheduleParams {
	return queue.ScheduleParams{Name: name, Job: "tick", Payload: []byte(`{"n":1}`),
		Spec: schedule.Spec{Type: schedule.Minutes, Every: 10, Start: noon}}
}

func mustAddSchedule(tb testing.TB, s *queue.Store, p queue.ScheduleParams) queue.Schedule {
	tb.Helper()
	sc, err := s.AddSchedule(context.Background(), p)
	if err != nil {
		tb.Fatal(err)
	}
	return sc
}

func TestRunSchedule(t *testing.T) {
	clk := &clock{t: noon}
	s := mustStore(t, clk)
	ctx := context.Background()
	sc := mustAddSchedule(t, s, every10("tick"))
	id, err := s.RunSchedule(ctx, "tick")
	if err != nil {
		t.Fatal(err)
	}
	task, err := s.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if task.State != queue.Queued || task.Job != "tick" || task.ScheduleID != sc.ID || !task.RunAt.Equal(noon) {
		t.Errorf("task = %+v; want tick queued now from schedule %d", task, sc.ID)
	}
	after, _ := s.GetSchedule(ctx, "tick")
	if !after.NextRun.Equal(sc.NextRun) {
		t.Errorf("next run moved from %v to %v", sc.NextRun, after.NextRun)
	}
	if _, err := s.RunSchedule(ctx, "nope"); !errors.Is(err, queue.ErrScheduleNotFound) {
		t.Errorf("unknown schedule: %v; want ErrScheduleNotFound", err)
	}
}
