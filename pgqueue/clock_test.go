package pgqueue_test

import (
	"context"
	"testing"
	"time"

	"github.com/sluicehq/sluice/pgqueue"
	"github.com/sluicehq/sluice/queue"
)

// dbNow reads the database server's clock.
func dbNow(t *testing.T, s *pgqueue.Store) time.Time {
	t.Helper()
	var ms int64
	if err := s.Pool().QueryRow(context.Background(), "SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint").Scan(&ms); err != nil {
		t.Fatal(err)
	}
	return time.UnixMilli(ms)
}

func between(t *testing.T, what string, got, lo, hi time.Time) {
	t.Helper()
	if got.Before(lo) || got.After(hi) {
		t.Errorf("%s = %v; want the database's clock, between %v and %v", what, got, lo, hi)
	}
}

// TestTimesComeFromTheDatabase: without an injected clock, every time the
// store writes (enqueue, claim, lease, finish) is the database server's, so
// workers whose clocks disagree agree on leases.
func TestTimesComeFromTheDatabase(t *testing.T) {
	ctx := context.Background()
	s := mustStore(t, nil)
	before := dbNow(t, s)
	id := mustEnqueue(t, s, queue.EnqueueParams{Job: "x", Timeout: 10 * time.Second})
	res := exchange(t, s, nil, params)
	if len(res.Claimed) != 1 {
		t.Fatalf("claimed %d; want 1", len(res.Claimed))
	}
	c := res.Claimed[0]
	exchange(t, s, []queue.Outcome{{ID: id, Attempt: 1, Kind: queue.Succeed}}, queue.ClaimParams{Worker: params.Worker})
	after := dbNow(t, s)
	got, err := s.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	between(t, "created_at", got.CreatedAt, before, after)
	between(t, "run_at", got.RunAt, before, after)
	between(t, "started_at", c.StartedAt, before, after)
	between(t, "finished_at", got.FinishedAt, c.StartedAt, after)
	if lease := c.LeaseUntil.Sub(c.StartedAt); lease != 10*time.Second+params.LeaseMargin {
		t.Errorf("lease = %s after the start; want the timeout plus the margin", lease)
	}
	st, err := s.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	between(t, "Status.Now", st.Now, before, dbNow(t, s))
}

// TestOutcomeTextPostgresRefuses: a job's result or error with a NUL byte
// or invalid UTF-8 (which text columns refuse) is stored with U+FFFD in
// their place instead of failing the exchange, and the other outcomes of
// the batch are written too.
func TestOutcomeTextPostgresRefuses(t *testing.T) {
	ctx := context.Background()
	s := mustStore(t, newClock())
	a := mustEnqueue(t, s, queue.EnqueueParams{Job: "x"})
	b := mustEnqueue(t, s, queue.EnqueueParams{Job: "x", MaxAttempts: 1})
	exchange(t, s, nil, params)
	res := exchange(t, s, []queue.Outcome{
		{ID: a, Attempt: 1, Kind: queue.Succeed, Result: []byte("bin\x00ary\xff")},
		{ID: b, Attempt: 1, Kind: queue.Fail, Error: "bad\x00byte"},
	}, queue.ClaimParams{Worker: params.Worker})
	if len(res.Stale) != 0 {
		t.Fatalf("stale %+v", res.Stale)
	}
	if got, _ := s.Get(ctx, a); got.State != queue.Succeeded || string(got.Result) != "bin\uFFFDary\uFFFD" {
		t.Errorf("task a: %s, result %q", got.State, got.Result)
	}
	if got, _ := s.Get(ctx, b); got.State != queue.Failed || got.Error != "bad\uFFFDbyte" {
		t.Errorf("task b: %s, error %q", got.State, got.Error)
	}
}

// TestHeartbeatsUseTheDatabaseClock: without an injected clock, a worker's
// registration and heartbeats are the database server's time, as its
// staleness is judged by.
func TestHeartbeatsUseTheDatabaseClock(t *testing.T) {
	ctx := context.Background()
	s := mustStore(t, nil)
	before := dbNow(t, s)
	if err := s.Register(ctx, queue.WorkerInfo{ID: "a", StaleAfter: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	ws, err := s.Workers(ctx)
	if err != nil || len(ws) != 1 {
		t.Fatalf("workers %+v, %v", ws, err)
	}
	between(t, "started_at", ws[0].StartedAt, before, dbNow(t, s))
	// Move its heartbeat back an hour; the next exchange brings it to now.
	execSQL(t, s, "UPDATE workers SET heartbeat_at = heartbeat_at - 3600000")
	before = dbNow(t, s)
	p := params
	p.Worker, p.Registered, p.Limit = "a", true, 0
	if res := exchange(t, s, nil, p); res.Lost {
		t.Fatal("lost")
	}
	ws, _ = s.Workers(ctx)
	between(t, "heartbeat_at", ws[0].HeartbeatAt, before, dbNow(t, s))
}

// TestOverviewDatabaseClock: without an injected clock, the overview goes
// by the database's.
func TestOverviewDatabaseClock(t *testing.T) {
	s := mustStore(t, nil)
	before := dbNow(t, s)
	o, err := s.Overview(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	between(t, "Overview.Now", o.Now, before, dbNow(t, s))
}
