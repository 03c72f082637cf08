package pgqueue_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/sluicehq/sluice/pgqueue"
	"github.com/sluicehq/sluice/queue"
)

// The hot store operations, on the database's clock as in production.
// ns/op is per task throughout, as in queue's benchmarks.

func BenchmarkEnqueue(b *testing.B) {
	s := mustStore(b, nil)
	p := queue.EnqueueParams{Job: "echo_test", Payload: json.RawMessage(`{"n":1}`)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Enqueue(context.Background(), p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEnqueueMany(b *testing.B) {
	s := mustStore(b, nil)
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
// one transaction (and one round trip) per batch, as a busy worker does.
func BenchmarkExchange(b *testing.B) { benchExchange(b, false) }

// BenchmarkExchangeRegistered is BenchmarkExchange for a registered worker,
// as drain and run are: each exchange also heartbeats.
func BenchmarkExchangeRegistered(b *testing.B) { benchExchange(b, true) }

func benchExchange(b *testing.B, registered bool) {
	s := mustStore(b, nil)
	ctx := context.Background()
	enqueueForBench(b, s, b.N+64)
	p := params
	p.Limit = 64
	if registered {
		if err := s.Register(ctx, queue.WorkerInfo{ID: p.Worker, StaleAfter: time.Hour}); err != nil {
			b.Fatal(err)
		}
		p.Registered, p.Starts = true, p.Limit
	}
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

// enqueueForBench adds n echo tasks in batches, outside the timed part.
func enqueueForBench(b *testing.B, s *pgqueue.Store, n int) {
	b.Helper()
	ps := make([]queue.EnqueueParams, min(n, 10_000))
	for i := range ps {
		ps[i] = queue.EnqueueParams{Job: "echo_test", Payload: json.RawMessage(`{"n":1}`)}
	}
	for done := 0; done < n; done += len(ps) {
		if _, err := s.EnqueueMany(context.Background(), ps[:min(len(ps), n-done)]); err != nil {
			b.Fatal(err)
		}
	}
}
