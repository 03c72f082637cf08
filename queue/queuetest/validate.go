package queuetest

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

// testValidationMatchesSQLite: a store refuses bad input with the same
// words as the SQLite store, the reference (both call queue's Validate).
func testValidationMatchesSQLite(t *testing.T, h *Harness) {
	ctx := context.Background()
	lite, err := queue.Open(ctx, filepath.Join(t.TempDir(), "reference.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	s := h.open(t, newClock())

	tasks := []queue.EnqueueParams{
		{Job: " "},
		{Job: "x", Payload: []byte(`{"a":`)},
		{Job: "x", Payload: []byte(`"` + strings.Repeat("x", queue.MaxPayload) + `"`)},
		{Job: "x", Priority: -1, MaxAttempts: -2, Timeout: -time.Second},
		{Job: "x", Timeout: time.Microsecond},
		{Job: "x", Timeout: queue.MaxTimeout + time.Millisecond},
		{Job: "x", RunAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{Job: "x", UniqueKey: "  "},
		{Job: "x", Then: []queue.FollowUp{{Job: ""}}},
		{Job: "x", Then: []queue.FollowUp{{Job: "y", When: "later"}}},
		{Job: "x", Then: []queue.FollowUp{{Job: "y", When: queue.WhenDone, Payload: []byte(`[1]`)}}},
		{Job: "x", Then: []queue.FollowUp{{Job: "y", Then: []queue.FollowUp{{Job: "z", Priority: -1}}}}},
		// Text PostgreSQL's json cannot read back (docs/postgresql.md).
		{Job: "x", Then: []queue.FollowUp{{Job: "y", When: queue.WhenDone, Payload: []byte(`{"s":"x\u0000y"}`)}}},
		{Job: "x", Then: []queue.FollowUp{{Job: "y", Then: []queue.FollowUp{{Job: "z", Payload: []byte(`["\udc00"]`)}}}}},
		{Job: "x", Then: []queue.FollowUp{{Job: "y", Payload: []byte(`{"\ud83d":1}`), Group: "g\x00"}}},
	}
	for _, p := range tasks {
		_, lerr := lite.Enqueue(ctx, p)
		_, serr := s.Enqueue(ctx, p)
		if lerr == nil || serr == nil || lerr.Error() != serr.Error() || !errors.Is(serr, queue.ErrInvalid) {
			t.Errorf("enqueue %+.40v:\n sqlite: %v\n store:  %v", p, lerr, serr)
		}
		_, lerr = lite.EnqueueMany(ctx, []queue.EnqueueParams{{Job: "ok"}, p})
		_, serr = s.EnqueueMany(ctx, []queue.EnqueueParams{{Job: "ok"}, p})
		if lerr == nil || serr == nil || lerr.Error() != serr.Error() {
			t.Errorf("enqueue batch %+.40v:\n sqlite: %v\n store:  %v", p, lerr, serr)
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
		_, serr := s.AddSchedule(ctx, p)
		if lerr == nil || serr == nil || lerr.Error() != serr.Error() || !errors.Is(serr, queue.ErrInvalidSchedule) {
			t.Errorf("add schedule %+.40v:\n sqlite: %v\n store:  %v", p, lerr, serr)
		}
	}
	dup := queue.ScheduleParams{Name: "dup", Job: "x", Spec: spec}
	for range 2 {
		_, lerr := lite.AddSchedule(ctx, dup)
		_, serr := s.AddSchedule(ctx, dup)
		if (lerr == nil) != (serr == nil) || lerr != nil && lerr.Error() != serr.Error() {
			t.Errorf("add schedule twice:\n sqlite: %v\n store:  %v", lerr, serr)
		}
	}
	if counts, err := s.Counts(ctx); err != nil || counts[queue.Queued] != 0 {
		t.Errorf("queued = %d, %v after refused enqueues; want 0", counts[queue.Queued], err)
	}
}
