package queue_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/sluicehq/sluice/queue"
)

// The hot store operations. ns/op is per task throughout.

func BenchmarkEnqueue(b *testing.B) {
	s := mustStore(b, &clock{t: time.Now()})
	p := queue.EnqueueParams{Job: "echo_test", Payload: json.RawMessage(`{"n":1}`)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Enqueue(context.Background(), p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEnqueueMany(b *testing.B) {
	s := mustStore(b, &clock{t: time.Now()})
	const batch = 1000
	ps := make([]queue.EnqueueParams, batch)
	for i := range ps {
		ps[i] = queue.EnqueueParams{Job: "echo_test", Payload: json.RawMessage(`{"n":1}`)}
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if n%batch == 0 {
			if _, err := s.EnqueueMany(context.Background(), ps); err != nil {
				b.Fatal(err)
			}
		}
		n++
	}
}

// BenchmarkExchange claims batches of 64 tasks and writes their outcomes,
// one transaction per batch, as a busy worker does.
func BenchmarkExchange(b *testing.B) {
	clk := &clock{t: time.Now()}
	s := mustStore(b, clk)
	ctx := context.Background()
	ps := make([]queue.EnqueueParams, b.N+64)
	for i := range ps {
		ps[i] = queue.EnqueueParams{Job: "echo_test", Payload: json.RawMessage(`{"n":1}`)}
	}
	for i := 0; i < len(ps); i += 10_000 {
		if _, err := s.EnqueueMany(ctx, ps[i:min(i+10_000, len(ps))]); err != nil {
			b.Fatal(err)
		}
	}
	p := params
	p.Limit = 64
	var outcomes []queue.Outcome
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		res, err := s.Exchange(ctx, outcomes, p)
		if err != nil {
			b.Fatal(err)
		}
		done += len(outcomes)
		outcomes = outcomes[:0]
		for _, t := range res.Claimed {
			outcomes = append(outcomes, queue.Outcome{ID: t.ID, Attempt: t.Attempt, Kind: queue.Succeed,
				Result: t.Payload, StartedAt: t.StartedAt, Duration: time.Millisecond})
		}
	}
}
