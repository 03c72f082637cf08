package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/worker"
)

// BenchmarkDrain measures draining no-op (echo_test) tasks with 4 workers,
// from the first claim to the last outcome written. ns/op is per task.
func BenchmarkDrain(b *testing.B) {
	e := newEnv(b)
	e.opts.Now = time.Now
	e.store = queue.New(e.store.DB(), queue.NewOpts{})
	ps := make([]queue.EnqueueParams, b.N)
	for i := range ps {
		ps[i] = queue.EnqueueParams{Job: "echo_test", Payload: []byte(`{"n":1}`)}
	}
	for i := 0; i < len(ps); i += 10_000 {
		if _, err := e.store.EnqueueMany(context.Background(), ps[i:min(i+10_000, len(ps))]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	sum, err := worker.New(e.store, e.jobs, e.opts).Drain(context.Background(), worker.DrainOpts{})
	b.StopTimer()
	if err != nil || sum.Succeeded != b.N {
		b.Fatalf("drain: %+v, %v", sum, err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
}
