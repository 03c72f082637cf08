package queuetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice/queue"
)

func testListGroupsAndStatus(t *testing.T, h *Harness) {
	ctx := context.Background()
	clk := newClock()
	s := h.open(t, clk)
	a := mustEnqueue(t, s, queue.EnqueueParams{Job: "mail", Group: "g", MaxAttempts: 1})
	b := mustEnqueue(t, s, queue.EnqueueParams{Job: "mail", Group: "g"})
	c := mustEnqueue(t, s, queue.EnqueueParams{Job: "report", Queue: "slow"})
	finish(t, s, map[int64]queue.Kind{a: queue.Fail, b: queue.Succeed, c: queue.Succeed})
	clk.Advance(10 * time.Minute)
	d := mustEnqueue(t, s, queue.EnqueueParams{Job: "mail", Group: "g", Payload: []byte(`{"big":true}`)})
	e := mustEnqueue(t, s, queue.EnqueueParams{Job: "report", Queue: "slow", RunAt: clk.Now().Add(time.Hour)})
	clk.Advance(2 * time.Minute)

	tests := []struct {
		name string
		p    queue.ListParams
		want []int64
	}{
		{"all, newest first", queue.ListParams{}, []int64{e, d, c, b, a}},
		{"state", queue.ListParams{States: []queue.State{queue.Succeeded, queue.Failed}}, []int64{c, b, a}},
		{"queued", queue.ListParams{States: []queue.State{queue.Queued}}, []int64{e, d}},
		{"states with filters, repeated", queue.ListParams{States: []queue.State{queue.Queued, queue.Succeeded, queue.Queued},
			Queue: "slow", Limit: 5}, []int64{e, c}},
		{"queued and failed, limit", queue.ListParams{States: []queue.State{queue.Failed, queue.Queued}, Limit: 2}, []int64{e, d}},
		{"queue", queue.ListParams{Queue: "slow"}, []int64{e, c}},
		{"job", queue.ListParams{Job: "mail"}, []int64{d, b, a}},
		{"group", queue.ListParams{Group: "g", Limit: 2}, []int64{d, b}},
		{"since", queue.ListParams{Since: clk.Now().Add(-5 * time.Minute)}, []int64{e, d}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.List(ctx, tt.p)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids(got), tt.want) {
				t.Errorf("got %v; want %v", ids(got), tt.want)
			}
			for _, task := range got {
				if task.Payload != nil || task.History != nil && len(task.History) > 0 {
					t.Errorf("task %d: listing carries payload or history", task.ID)
				}
			}
		})
	}
	if _, err := s.List(ctx, queue.ListParams{States: []queue.State{"done"}}); !errors.Is(err, queue.ErrInvalid) {
		t.Errorf("unknown state: err = %v; want ErrInvalid", err)
	}

	gs, err := s.Groups(ctx, "")
	if err != nil || len(gs) != 1 || gs[0].Group != "g" || gs[0].Total != 3 ||
		gs[0].Counts[queue.Failed] != 1 || gs[0].Counts[queue.Succeeded] != 1 || gs[0].Counts[queue.Queued] != 1 {
		t.Errorf("Groups = %+v, %v", gs, err)
	}
	if gs, _ := s.Groups(ctx, "none"); len(gs) != 1 || gs[0].Total != 0 {
		t.Errorf("Groups(none) = %+v; want one empty summary", gs)
	}

	st, err := s.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Queues) != 2 || st.Queues[0].Queue != "default" || st.Queues[1].Queue != "slow" {
		t.Fatalf("queues %+v", st.Queues)
	}
	if w := st.Queues[0].Wait(st.Now); w != 2*time.Minute {
		t.Errorf("default queue wait = %s; want 2m (task %d due since then)", w, d)
	}
	if w := st.Queues[1].Wait(st.Now); w != 0 {
		t.Errorf("slow queue wait = %s; want 0 (its queued task is not due)", w)
	}
	if st.FailedLastHour != 1 || st.FailedLastDay != 1 {
		t.Errorf("failures %d/%d; want 1/1", st.FailedLastHour, st.FailedLastDay)
	}
	// The three finished 12 minutes before Now: the start of minute 48 of the last hour.
	if st.DonePerMinute[48] != 3 {
		t.Errorf("done per minute %v; want 3 at index 48", st.DonePerMinute)
	}
	if n, err := s.CountRemaining(ctx, nil, "nobody"); err != nil || n != 1 {
		t.Errorf("CountRemaining = %d, %v; want 1", n, err)
	}
}
