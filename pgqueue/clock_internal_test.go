package pgqueue

import (
	"context"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/pgtest"
	"github.com/sluicehq/sluice/queue"
)

// TestRetryTimeIsADelay: a worker chooses a retry time on its own clock;
// the store writes it as the delay from that clock's now added to the
// database's now, so a machine whose clock is an hour off neither skips
// the backoff nor stretches it.
func TestRetryTimeIsADelay(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, pgtest.URL(t), NewOpts{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, skew := range []time.Duration{-time.Hour, time.Hour} {
		s.local = func() time.Time { return time.Now().Add(skew) } // this machine's clock is off
		var id int64
		if err := s.pool.QueryRow(ctx, "INSERT INTO tasks (job) VALUES ('x') RETURNING id").Scan(&id); err != nil {
			t.Fatal(err)
		}
		p := queue.ClaimParams{Worker: "w", Limit: 1, DefaultTimeout: time.Minute, DefaultMaxAttempts: 3}
		res, err := s.Exchange(ctx, nil, p)
		if err != nil || len(res.Claimed) != 1 || res.Claimed[0].ID != id {
			t.Fatalf("claim: %+v, %v; want task %d", res, err, id)
		}
		backoff := 10 * time.Second
		before := dbClock(t, s)
		out := queue.Outcome{ID: id, Attempt: 1, Kind: queue.Fail, Error: "boom", RetryAt: s.local().Add(backoff)}
		if res, err := s.Exchange(ctx, []queue.Outcome{out}, queue.ClaimParams{Worker: "w"}); err != nil || len(res.Stale) > 0 {
			t.Fatalf("outcome: %+v, %v", res, err)
		}
		after := dbClock(t, s)
		var runAt int64
		if err := s.pool.QueryRow(ctx, "SELECT run_at FROM tasks WHERE id = $1", id).Scan(&runAt); err != nil {
			t.Fatal(err)
		}
		// The delay is measured before the write, so the task may come due
		// a little early, never late.
		lo, hi := before.Add(backoff).Add(-time.Second), after.Add(backoff)
		if got := time.UnixMilli(runAt); got.Before(lo) || got.After(hi) {
			t.Errorf("clock off by %s: run_at = %v; want the database's now plus %s, between %v and %v", skew, got, backoff, lo, hi)
		}
	}
}

// dbClock reads the database server's clock.
func dbClock(tb testing.TB, s *Store) time.Time {
	tb.Helper()
	var ms int64
	if err := s.pool.QueryRow(context.Background(), "SELECT "+dbNowMS).Scan(&ms); err != nil {
		tb.Fatal(err)
	}
	return time.UnixMilli(ms)
}

// TestHeartbeatAfterLockWait: an exchange whose outcome waits on a task's
// lock commits a heartbeat from after the wait, not from the start of its
// transaction, so a worker is not judged dead just after a long wait.
func TestHeartbeatAfterLockWait(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, pgtest.URL(t), NewOpts{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Register(ctx, queue.WorkerInfo{ID: "w", StaleAfter: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, "INSERT INTO tasks (job) VALUES ('x')"); err != nil {
		t.Fatal(err)
	}
	p := queue.ClaimParams{Worker: "w", Registered: true, Limit: 1, Starts: 1, DefaultTimeout: time.Minute, DefaultMaxAttempts: 3}
	res, err := s.Exchange(ctx, nil, p)
	if err != nil || len(res.Claimed) != 1 {
		t.Fatalf("claim: %+v, %v", res, err)
	}
	task := res.Claimed[0]
	other, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Rollback(ctx)
	if _, err := other.Exec(ctx, "SELECT FROM tasks WHERE id = $1 FOR UPDATE", task.ID); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		out := queue.Outcome{ID: task.ID, Attempt: task.Attempt, Kind: queue.Succeed, Result: []byte(`{}`)}
		_, err := s.Exchange(ctx, []queue.Outcome{out}, queue.ClaimParams{Worker: "w", Registered: true})
		done <- err
	}()
	// Once the exchange waits, let the database's clock move on.
	deadline := time.Now().Add(10 * time.Second)
	var waited time.Time
	for {
		var n int
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 && waited.IsZero() {
			waited = dbClockNow(t, s).Add(5 * time.Millisecond)
		}
		if !waited.IsZero() && !dbClockNow(t, s).Before(waited) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the exchange never waited on the task's lock")
		}
	}
	if err := other.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var at int64
	if err := s.pool.QueryRow(ctx, "SELECT heartbeat_at FROM workers WHERE id = 'w'").Scan(&at); err != nil {
		t.Fatal(err)
	}
	if got := time.UnixMilli(at); got.Before(waited) {
		t.Errorf("heartbeat_at = %v; want after the wait (%v or later)", got, waited)
	}
}

// dbClockNow reads the database server's clock at the moment.
func dbClockNow(tb testing.TB, s *Store) time.Time {
	tb.Helper()
	var ms int64
	if err := s.pool.QueryRow(context.Background(), "SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint").Scan(&ms); err != nil {
		tb.Fatal(err)
	}
	return time.UnixMilli(ms)
}
