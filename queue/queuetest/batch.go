package queuetest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/queue"
)

// batchOf returns n tasks whose every option differs from row to row, so a
// parameter bound to the wrong row or column shows up in the stored task.
func batchOf(n int, now time.Time) []queue.EnqueueParams {
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

// TestEnqueueManyBadTaskAddsNothing checks that a batch with one bad task,
// past the first statement's rows, is refused by name before anything is
// written.
func testEnqueueManyBadTaskAddsNothing(t *testing.T, h *Harness) {
	clk := newClock()
	s := h.open(t, clk)
	ctx := context.Background()
	ps := batchOf(300, clk.Now())
	ps[200].Payload = json.RawMessage(`{"i":`)
	_, err := s.EnqueueMany(ctx, ps)
	if err == nil || !strings.Contains(err.Error(), "task 200") || !strings.Contains(err.Error(), "payload is not valid JSON") {
		t.Fatalf("err = %v; want one naming task 200 and its payload", err)
	}
	if n := h.sql(t, s, "SELECT count(*) FROM tasks"); n != 0 {
		t.Errorf("%d tasks stored; want none", n)
	}
}
