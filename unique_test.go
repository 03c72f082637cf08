package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/queue"
)

// TestUniqueKeyAcrossProcesses has 8 goroutines and 2 sluice processes
// enqueue the same unique key at once: exactly one task may exist, and every
// caller must get its id. The goroutines keep enqueueing until both
// processes are done, so the processes' inserts meet concurrent ones.
func TestUniqueKeyAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the sluice binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "sluice")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx := context.Background()
	path := filepath.Join(dir, "q.db")
	store, err := queue.Open(ctx, path) // migrated before anyone races
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()

	const key = "K"
	start := make(chan struct{})
	procsDone := make(chan struct{})
	var (
		mu  sync.Mutex
		ids = map[int64]int{} // id -> callers that got it
		wg  sync.WaitGroup
	)
	record := func(id int64) { mu.Lock(); ids[id]++; mu.Unlock() }

	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for n := 0; ; n++ {
				id, err := store.Enqueue(ctx, queue.EnqueueParams{Job: "echo_test", UniqueKey: key})
				if err != nil {
					t.Errorf("goroutine %d: %v", i, err)
					return
				}
				record(id)
				select {
				case <-procsDone:
					return
				default:
				}
			}
		}()
	}
	procs := make([]*exec.Cmd, 2)
	outs := make([]*bytes.Buffer, 2)
	for i := range procs {
		outs[i] = new(bytes.Buffer)
		procs[i] = exec.Command(bin, "enqueue", "-unique", key, "echo_test")
		procs[i].Env = []string{"SLUICE_DB=" + path, "SLUICE_LOG_FORMAT=json"}
		procs[i].Stdout, procs[i].Stderr = outs[i], outs[i]
	}
	close(start)
	for i, p := range procs {
		if err := p.Start(); err != nil {
			t.Fatalf("process %d: %v", i, err)
		}
	}
	for i, p := range procs {
		if err := p.Wait(); err != nil {
			t.Errorf("process %d: %v\n%s", i, err, outs[i])
		}
	}
	close(procsDone)
	wg.Wait()
	for i, out := range outs {
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		id, err := strconv.ParseInt(lines[len(lines)-1], 10, 64)
		if err != nil {
			t.Fatalf("process %d printed %q; want the task id last", i, out)
		}
		record(id)
	}

	counts, err := store.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 1 || counts[queue.Queued] != 1 {
		t.Fatalf("callers got task ids %v and %d tasks are queued; want one task for everyone", ids, counts[queue.Queued])
	}
	for id, n := range ids {
		t.Logf("%d enqueues from 8 goroutines and 2 processes all got task %d", n, id)
	}
}
