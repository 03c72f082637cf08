package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/sluicehq/sluice/jobs"
	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/worker"
)

func TestOnOutcomesReportsEveryWrittenAttempt(t *testing.T) {
	e := newEnv(t)
	e.jobs.Register("boom", func(context.Context, json.RawMessage) ([]byte, error) {
		return nil, errors.New("boom")
	})
	e.jobs.Register("fatal", func(context.Context, json.RawMessage) ([]byte, error) {
		return nil, jobs.Permanent(errors.New("fatal"))
	})
	var ps []queue.EnqueueParams
	for range 50 {
		ps = append(ps, queue.EnqueueParams{Job: "echo_test"}, queue.EnqueueParams{Job: "boom", Queue: "q2"},
			queue.EnqueueParams{Job: "fatal", Queue: "q3"})
	}
	if _, err := e.store.EnqueueMany(context.Background(), ps); err != nil {
		t.Fatal(err)
	}
	type key struct{ job, queue string }
	got := map[key]map[queue.Kind]int{}
	var retried int
	e.opts.OnOutcomes = func(r worker.Report) {
		for _, d := range r.Done {
			if d.Stale {
				t.Errorf("stale outcome %+v", d)
			}
			k := key{d.Job, d.Queue}
			if got[k] == nil {
				got[k] = map[queue.Kind]int{}
			}
			got[k][d.Outcome.Kind]++
			if !d.Outcome.RetryAt.IsZero() {
				retried++
			}
		}
	}
	sum := e.drain(t, worker.DrainOpts{})
	want := map[key]map[queue.Kind]int{
		{"echo_test", "default"}: {queue.Succeed: 50},
		{"boom", "q2"}:           {queue.Fail: 50},
		{"fatal", "q3"}:          {queue.Fail: 50},
	}
	for k, kinds := range want {
		for kind, n := range kinds {
			if got[k][kind] != n {
				t.Errorf("%v kind %d: reported %d; want %d (all: %v)", k, kind, got[k][kind], n, got)
			}
		}
	}
	if retried != sum.Retried || retried != 50 {
		t.Errorf("reported %d retries; summary says %d, want 50", retried, sum.Retried)
	}

	// Lease recovery is reported too.
	e.clock.Advance(time.Hour) // the boom retries are due
	claimed, err := e.store.Exchange(context.Background(), nil, queue.ClaimParams{Worker: "dead", Limit: 1,
		DefaultTimeout: time.Second, DefaultMaxAttempts: 3, LeaseMargin: time.Second})
	if err != nil || len(claimed.Claimed) != 1 {
		t.Fatalf("claim by a worker that then dies: %v, %v", claimed, err)
	}
	e.clock.Advance(time.Minute)
	var recovered int
	e.opts.OnOutcomes = func(r worker.Report) { recovered += r.Recovered }
	e.drain(t, worker.DrainOpts{})
	if recovered != 1 {
		t.Errorf("reported %d recovered; want 1", recovered)
	}
}
