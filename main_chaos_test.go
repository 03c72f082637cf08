package main

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/queue"
)

// TestKillNineChaos drains tasks (some slow) while SIGKILLing the draining
// process at random moments, restarting it each time. At the end every task
// has succeeded, and every extra run of a task is explained by a kill while
// its worker held it (a recovery in its history: a dead worker's
// heartbeat, or a lease that expired on a store that leases instead).
func TestKillNineChaos(t *testing.T) {
	forEachStore(t, killNineChaos)
}

func killNineChaos(t *testing.T, k storeKind) {
	const kills = 20
	n := volume / 5 // 2,000 in the plain run
	path, s := k.fresh(t)
	record := filepath.Join(t.TempDir(), "runs.txt")
	ids := enqueueN(t, s, n, "record", func(i int) string {
		if i%10 == 0 {
			return `{"sleep_ms":100}`
		}
		return `{}`
	})
	env := append([]string{"RECORD_FILE=" + record, "SLUICE_WORKERS=4", "SLUICE_MAX_ATTEMPTS=1000",
		"SLUICE_TIMEOUT=1s", "SLUICE_RETRY=1500ms", "SLUICE_KILL_GRACE=0s"}, fastHeartbeat...)

	rng := rand.New(rand.NewPCG(1, 2))
	killed := 0
	for killed < kills {
		cmd := sluice(t, path, env, "drain")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		// The kill comes at a random moment after the drain has run its
		// first task (a slow start, as under the race detector, would
		// otherwise have every kill land before it claims anything).
		// That moment is the experiment, not a wait for a condition.
		roundOver := make(chan struct{})
		select {
		case <-exited: // finished before the kill: nothing to kill this round
		case <-recorded(record, recordSize(record), roundOver):
			select {
			case <-exited:
			case <-time.After(time.Duration(20+rng.IntN(200)) * time.Millisecond):
				cmd.Process.Signal(syscall.SIGKILL)
				<-exited
				killed++
			}
		}
		close(roundOver)
		counts, _ := s.Counts(context.Background())
		if counts[queue.Queued]+counts[queue.Running] == 0 {
			break // everything finished before all the kills happened
		}
	}
	drainUntil(t, s, path, env, 2*time.Minute)

	runs, _ := readRuns(t, record)
	extra, expired := 0, 0
	for _, id := range ids {
		task, err := s.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if task.State != queue.Succeeded {
			t.Fatalf("task %d ended %s: %s", id, task.State, task.Error)
		}
		lost := 0
		for _, h := range task.History {
			switch h.Outcome {
			case queue.OutcomeWorkerDied, queue.OutcomeWorkerDiedUnstarted, queue.OutcomeLeaseExpired:
				lost++ // its worker was killed while it held the task
			}
		}
		expired += lost
		if runs[id] < 1 {
			t.Errorf("task %d succeeded but its run was not recorded", id)
		}
		if runs[id]-1 > lost {
			h, _ := json.Marshal(task.History)
			t.Errorf("task %d ran %d times with only %d attempts lost to kills: %s", id, runs[id], lost, h)
		}
		extra += runs[id] - 1
	}
	t.Logf("%d kills, %d tasks: all succeeded; %d attempts lost to kills, %d extra runs (each a kill after the work was done but before its outcome was written)",
		killed, n, expired, extra)
	if killed < kills && expired == 0 {
		t.Logf("note: the drain finished before %d kills could happen", kills)
	}
	if killed == kills && expired == 0 {
		t.Errorf("%d kills of drains that were running tasks, and no task was ever taken back from a killed worker", kills)
	}
}

// recordSize is the size of the record file now (0 before it exists).
func recordSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// recorded returns a channel closed once the record file grows past size:
// some task has run since. It polls until then or until stop closes.
func recorded(path string, size int64, stop <-chan struct{}) <-chan struct{} {
	grown := make(chan struct{})
	go func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for recordSize(path) <= size {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
		close(grown)
	}()
	return grown
}
