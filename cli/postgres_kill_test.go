package cli_test

import (
	"context"
	"syscall"
	"testing"

	"github.com/sluicehq/sluice/internal/pgtest"
	"github.com/sluicehq/sluice/queue"
)

// TestPostgresKillNineRecovered kills a drain on PostgreSQL holding a
// running task and a prefetched one; a `sluice run` started at the kill
// runs both again once the dead worker's heartbeat is stale (on the
// database's clock): the running one charged (worker_died), the prefetched
// one not (worker_died_unstarted).
func TestPostgresKillNineRecovered(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	s := openPG(t, url)
	var ids []int64
	for range 2 {
		id, err := s.Enqueue(ctx, queue.EnqueueParams{Job: "slow"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	// The smallest stale limit config accepts: a heartbeat plus the busy
	// timeout SQLite may wait.
	beat := []string{"SLUICE_HEARTBEAT=100ms", "SLUICE_STALE_AFTER=5200ms", "SLUICE_TIMEOUT=2m", "SLUICE_SHUTDOWN_GRACE=100ms"}
	a := sluiceProcess(t, url, "drain")
	a.Env = append(a.Env, append(beat, `SLUICE_EXEC_SLOW=["sleep","60"]`, "SLUICE_WORKERS=1")...)
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	defer a.Process.Kill()
	waitFor(t, "the drain to run one task and hold the other", func() bool {
		var running, started int
		err := s.Pool().QueryRow(ctx, `SELECT count(*), count(started_at) FROM tasks WHERE state = 'running'`).Scan(&running, &started)
		return err == nil && running == 2 && started == 1
	})
	a.Process.Signal(syscall.SIGKILL)
	a.Wait()

	b := sluiceProcess(t, url, "run")
	b.Env = append(b.Env, append(beat, `SLUICE_EXEC_SLOW=["true"]`, "SLUICE_WORKERS=2")...)
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	defer b.Process.Kill()
	waitFor(t, "both tasks to run again and succeed", func() bool {
		c, err := s.Counts(ctx)
		return err == nil && c[queue.Succeeded] == 2
	})
	want := map[string]int{queue.OutcomeWorkerDied: 2, queue.OutcomeWorkerDiedUnstarted: 1} // outcome: attempt now
	for _, id := range ids {
		task, err := s.Get(ctx, id)
		if err != nil || len(task.History) != 2 || want[task.History[0].Outcome] != task.Attempt {
			t.Errorf("task %d: %s attempt %d history %+v, %v", id, task.State, task.Attempt, task.History, err)
			continue
		}
		delete(want, task.History[0].Outcome)
	}
	if len(want) > 0 {
		t.Errorf("no task recovered as %v", want)
	}
	b.Process.Signal(syscall.SIGTERM)
	if err := b.Wait(); err != nil {
		t.Errorf("run: %v", err)
	}
	if ws, err := s.Workers(ctx); err != nil || len(ws) != 0 {
		t.Errorf("workers after both ended: %+v, %v; want none (the dead one removed, the run unregistered)", ws, err)
	}
}
