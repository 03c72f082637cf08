package pgqueue_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/schedule"
)

// TestValidationMatchesQueue: pgqueue repeats queue's unexported checks;
// both stores must refuse the same input with the same words.
func TestValidationMatchesQueue(t *testing.T) {
	ctx := context.Background()
	lite, err := queue.Open(ctx, filepath.Join(t.TempDir(), "q.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	pg := mustStore(t, newClock())

	tasks := []queue.EnqueueParams{
		{Job: " "},
		{Job: "x", Payload: []byte(`{"a":`)},
		{Job: "x", Payload: []byte(`"` + strings.Repeat("x", queue.MaxPayload) + `"`)},
		{Job: "x", Priority: -1, MaxAttempts: -2, Timeout: -time.Second},
		{Job: "x", Timeout: time.Microsecond},
		{Job: "x", UniqueKey: "  "},
	}
	for _, p := range tasks {
		_, lerr := lite.Enqueue(ctx, p)
		_, perr := pg.Enqueue(ctx, p)
		if lerr == nil || perr == nil || lerr.Error() != perr.Error() || !errors.Is(perr, queue.ErrInvalid) {
			t.Errorf("enqueue %+.40v:\n sqlite:   %v\n postgres: %v", p, lerr, perr)
		}
		_, lerr = lite.EnqueueMany(ctx, []queue.EnqueueParams{{Job: "ok"}, p})
		_, perr = pg.EnqueueMany(ctx, []queue.EnqueueParams{{Job: "ok"}, p})
		if lerr == nil || perr == nil || lerr.Error() != perr.Error() {
			t.Errorf("enqueue batch %+.40v:\n sqlite:   %v\n postgres: %v", p, lerr, perr)
		}
	}
	spec := schedule.Spec{Type: schedule.Minutes, Every: 10}
	schedules := []queue.ScheduleParams{
		{Name: "", Job: "x", Spec: spec},
		{Name: "has space", Job: "x", Spec: spec},
		{Name: "s", Job: "", Spec: spec, Repeats: -1},
		{Name: "s", Job: "x", Spec: schedule.Spec{Type: "weekly-ish"}},
		{Name: "s", Job: "x", Spec: spec, CatchUp: "some"},
		{Name: "s", Job: "x", Spec: spec, Source: "file"},
	}
	for _, p := range schedules {
		_, lerr := lite.AddSchedule(ctx, p)
		_, perr := pg.AddSchedule(ctx, p)
		if lerr == nil || perr == nil || lerr.Error() != perr.Error() || !errors.Is(perr, queue.ErrInvalidSchedule) {
			t.Errorf("add schedule %+.40v:\n sqlite:   %v\n postgres: %v", p, lerr, perr)
		}
	}
	dup := queue.ScheduleParams{Name: "dup", Job: "x", Spec: spec}
	for range 2 {
		_, lerr := lite.AddSchedule(ctx, dup)
		_, perr := pg.AddSchedule(ctx, dup)
		if (lerr == nil) != (perr == nil) || lerr != nil && lerr.Error() != perr.Error() {
			t.Errorf("add schedule twice:\n sqlite:   %v\n postgres: %v", lerr, perr)
		}
	}
}
