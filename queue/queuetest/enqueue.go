package queuetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/queue"
)

func testEnqueueAndGet(t *testing.T, h *Harness) {
	clk := newClock()
	s := h.open(t, clk)
	id := mustEnqueue(t, s, queue.EnqueueParams{Job: "echo_test", Payload: []byte(`{"a":1}`), Priority: 5,
		MaxAttempts: 7, Timeout: 3 * time.Second, Group: "g1", Queue: "mail"})
	got, err := s.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if got.Job != "echo_test" || string(got.Payload) != `{"a":1}` || got.Priority != 5 || got.MaxAttempts != 7 ||
		got.Timeout != 3*time.Second || got.Group != "g1" || got.Queue != "mail" || got.State != queue.Queued ||
		!got.RunAt.Equal(clk.Now()) {
		t.Errorf("got %+v", got)
	}
	if _, err := s.Get(context.Background(), id+1); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("Get(missing) err = %v; want ErrNotFound", err)
	}
}

func testEnqueueRejectsBadInput(t *testing.T, h *Harness) {
	s := h.open(t, newClock())
	tests := []struct {
		name string
		p    queue.EnqueueParams
		want string
	}{
		{"malformed json", queue.EnqueueParams{Job: "x", Payload: []byte(`{"a":`)}, "payload is not valid JSON"},
		{"empty job", queue.EnqueueParams{Job: " "}, "job name is empty"},
		{"negative priority", queue.EnqueueParams{Job: "x", Priority: -1}, "priority -1 is negative"},
		{"negative timeout", queue.EnqueueParams{Job: "x", Timeout: -time.Second}, "timeout -1s is negative"},
		{"payload too large", queue.EnqueueParams{Job: "x", Payload: []byte(`"` + strings.Repeat("x", queue.MaxPayload) + `"`)},
			fmt.Sprintf("payload is %d bytes, over the limit of %d", queue.MaxPayload+2, queue.MaxPayload)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Enqueue(context.Background(), tt.p)
			if !errors.Is(err, queue.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v; want ErrInvalid containing %q", err, tt.want)
			}
		})
	}
	counts, _ := s.Counts(context.Background())
	if counts[queue.Queued] != 0 {
		t.Errorf("queued = %d after rejected enqueues; want 0", counts[queue.Queued])
	}
}

func testEnqueueMany(t *testing.T, h *Harness) {
	s := h.open(t, newClock())
	ctx := context.Background()
	mustEnqueue(t, s, queue.EnqueueParams{Job: "first"})
	ps := make([]queue.EnqueueParams, 500)
	for i := range ps {
		ps[i] = queue.EnqueueParams{Job: "batch", Payload: []byte(`{"i":` + string(rune('0'+i%10)) + `}`), Timeout: time.Second}
	}
	ps[3].MaxAttempts = 9
	ids, err := s.EnqueueMany(ctx, ps)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 500 || ids[0] != 2 || ids[499] != 501 {
		t.Fatalf("ids = %d..%d (%d); want 2..501", ids[0], ids[len(ids)-1], len(ids))
	}
	got, _ := s.Get(ctx, ids[3])
	if got.Job != "batch" || string(got.Payload) != `{"i":3}` || got.MaxAttempts != 9 || got.Timeout != time.Second {
		t.Errorf("task 3 = %+v", got)
	}
	bad := []queue.EnqueueParams{{Job: "ok"}, {Job: "bad", Payload: []byte("nope")}}
	if _, err := s.EnqueueMany(ctx, bad); err == nil || !strings.Contains(err.Error(), "task 1") {
		t.Fatalf("err = %v; want one naming task 1", err)
	}
	counts, _ := s.Counts(ctx)
	if counts[queue.Queued] != 501 {
		t.Errorf("queued = %d; want 501 (a bad batch adds nothing)", counts[queue.Queued])
	}
}

// Batch returns n tasks whose every option differs from row to row, so a
// parameter bound to the wrong row or column shows up in the stored task.
func Batch(n int, now time.Time) []queue.EnqueueParams {
	ps := make([]queue.EnqueueParams, n)
	for i := range ps {
		ps[i] = queue.EnqueueParams{
			Job:         fmt.Sprintf("job%d", i),
			Payload:     json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)),
			Queue:       []string{"", "q1", "q2"}[i%3],
			Priority:    i % 7,
			MaxAttempts: i % 4,
			Timeout:     time.Duration(i%5) * time.Second,
			Group:       []string{"", "g"}[i%2],
		}
		if i%2 == 1 {
			ps[i].RunAt = now.Add(time.Duration(i) * time.Minute)
		}
	}
	return ps
}

// testEnqueueManyBadTaskAddsNothing checks that a batch with one bad task,
// past the first statement's rows, is refused by name before anything is
// written.
func testEnqueueManyBadTaskAddsNothing(t *testing.T, h *Harness) {
	clk := newClock()
	s := h.open(t, clk)
	ctx := context.Background()
	ps := Batch(300, clk.Now())
	ps[200].Payload = json.RawMessage(`{"i":`)
	_, err := s.EnqueueMany(ctx, ps)
	if err == nil || !strings.Contains(err.Error(), "task 200") || !strings.Contains(err.Error(), "payload is not valid JSON") {
		t.Fatalf("err = %v; want one naming task 200 and its payload", err)
	}
	if n := h.sql(t, s, "SELECT count(*) FROM tasks"); n != 0 {
		t.Errorf("%d tasks stored; want none", n)
	}
}

// CheckBatch checks that ids are consecutive from first and that each task
// was stored with exactly its own options.
func CheckBatch(t testing.TB, s queue.Backend, now time.Time, ps []queue.EnqueueParams, ids []int64, first int64) {
	t.Helper()
	if len(ids) != len(ps) {
		t.Fatalf("got %d ids for %d tasks", len(ids), len(ps))
	}
	for i, id := range ids {
		if id != first+int64(i) {
			t.Fatalf("ids[%d] = %d; want %d (consecutive from %d)", i, id, first+int64(i), first)
		}
		got, err := s.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		want := ps[i]
		wantQueue, wantRunAt := want.Queue, want.RunAt
		if wantQueue == "" {
			wantQueue = queue.DefaultQueue
		}
		if wantRunAt.IsZero() {
			wantRunAt = now
		}
		if got.Job != want.Job || string(got.Payload) != string(want.Payload) || got.Queue != wantQueue ||
			got.Priority != want.Priority || !got.RunAt.Equal(wantRunAt) || !got.CreatedAt.Equal(now) ||
			got.MaxAttempts != want.MaxAttempts || got.Timeout != want.Timeout || got.Group != want.Group ||
			got.State != queue.Queued || got.Attempt != 0 {
			t.Fatalf("task %d (id %d) = %+v\nwant %+v queued at %v", i, id, got, want, wantRunAt)
		}
	}
}
