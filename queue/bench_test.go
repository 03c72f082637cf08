package queue_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/sqlitewal"
)

// The hot store operations. ns/op is per task throughout.

// benchStore opens a store as queue.Open does: its writer fires no triggers.
func benchStore(b *testing.B, clk *clock) *queue.Store {
	b.Helper()
	return openStore(b, clk, sqlitewal.Options{Migrations: queue.Migrations, Sync: sqlitewal.Sync(*syncMode), WriterSkipsTriggers: true})
}

func BenchmarkEnqueue(b *testing.B) {
	s := benchStore(b, &clock{t: time.Now()})
	p := queue.EnqueueParams{Job: "echo_test", Payload: json.RawMessage(`{"n":1}`)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Enqueue(context.Background(), p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEnqueueMany(b *testing.B) {
	s := benchStore(b, &clock{t: time.Now()})
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
// one transaction per batch, as a busy worker does: unregistered (a lease
// per task), and registered (a heartbeat per exchange, half of each batch
// marked started by the next one), which is what drains and runs do.
func BenchmarkExchange(b *testing.B) {
	for _, registered := range []bool{false, true} {
		b.Run(fmt.Sprintf("registered_%v", registered), func(b *testing.B) { benchmarkExchange(b, registered) })
	}
}

func benchmarkExchange(b *testing.B, registered bool) {
	clk := &clock{t: time.Now()}
	s := benchStore(b, clk)
	ctx := context.Background()
	enqueueForBench(b, s, b.N+64)
	p := params
	if registered {
		p = register(b, s, "bench")
	}
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
		p.Started = p.Started[:0]
		for i, t := range res.Claimed {
			outcomes = append(outcomes, queue.Outcome{ID: t.ID, Attempt: t.Attempt, Kind: queue.Succeed,
				Result: t.Payload, StartedAt: t.StartedAt, Duration: time.Millisecond})
			if registered && i%2 == 0 {
				p.Started = append(p.Started, t.ID)
			}
		}
	}
}

// enqueueForBench adds n echo tasks in batches, outside the timed part.
func enqueueForBench(b *testing.B, s *queue.Store, n int) {
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

// BenchmarkClaim claims batches of 64 tasks: the claim's half of
// BenchmarkExchange (lease recovery included). Each batch's outcomes are
// written outside the timed part, so that running tasks stay as few as in a
// real worker. Lease recovery, before every claim, must not read the tasks
// other workers run: "beside_1000" runs beside 1,000 of them.
func BenchmarkClaim(b *testing.B) {
	for _, others := range []int{0, 1000} {
		b.Run(fmt.Sprintf("beside_%d", others), func(b *testing.B) {
			s := benchStore(b, &clock{t: time.Now()})
			ctx := context.Background()
			if others > 0 {
				enqueueForBench(b, s, others)
				p := params
				p.Worker, p.Limit = "other", others
				if res, err := s.Exchange(ctx, nil, p); err != nil || len(res.Claimed) != others {
					b.Fatalf("other worker claimed %d: %v", len(res.Claimed), err)
				}
			}
			enqueueForBench(b, s, b.N)
			p := params
			p.Limit = 64
			b.ReportAllocs()
			b.ResetTimer()
			for claimed := 0; claimed < b.N; {
				res, err := s.Exchange(ctx, nil, p)
				if err != nil {
					b.Fatal(err)
				}
				if len(res.Claimed) == 0 {
					b.Fatalf("claimed nothing after %d of %d", claimed, b.N)
				}
				claimed += len(res.Claimed)
				b.StopTimer()
				outs := make([]queue.Outcome, len(res.Claimed))
				for i, t := range res.Claimed {
					outs[i] = queue.Outcome{ID: t.ID, Attempt: t.Attempt, Kind: queue.Succeed, StartedAt: t.StartedAt}
				}
				if _, err := s.Exchange(ctx, outs, queue.ClaimParams{Worker: p.Worker}); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

// BenchmarkOutcomes writes outcomes of claimed tasks in batches of 64 and
// claims nothing: the outcome's half of BenchmarkExchange.
func BenchmarkOutcomes(b *testing.B) {
	s := benchStore(b, &clock{t: time.Now()})
	ctx := context.Background()
	enqueueForBench(b, s, b.N)
	p := params
	p.Limit = 1024
	var outcomes []queue.Outcome
	for len(outcomes) < b.N {
		res, err := s.Exchange(ctx, nil, p)
		if err != nil {
			b.Fatal(err)
		}
		for _, t := range res.Claimed {
			outcomes = append(outcomes, queue.Outcome{ID: t.ID, Attempt: t.Attempt, Kind: queue.Succeed,
				Result: t.Payload, StartedAt: t.StartedAt, Duration: time.Millisecond})
		}
	}
	p.Limit = 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < len(outcomes); i += 64 {
		res, err := s.Exchange(ctx, outcomes[i:min(i+64, len(outcomes))], p)
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Stale) > 0 {
			b.Fatalf("%d outcomes stale", len(res.Stale))
		}
	}
}
