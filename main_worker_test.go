package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/sqlitewal"
)

// event is one line the slow job records: an attempt's start or stop.
type event struct {
	what    string // start or stop
	id      int64
	attempt int
	pid     int
	at      time.Time
}

func readEvents(t *testing.T, path string) []event {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var evs []event
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if line == "" {
			continue
		}
		var e event
		var ns int64
		if _, err := fmt.Sscan(line, &e.what, &e.id, &e.attempt, &e.pid, &ns); err != nil {
			t.Fatalf("bad record line %q: %v", line, err)
		}
		e.at = time.Unix(0, ns)
		evs = append(evs, e)
	}
	return evs
}

// count returns how many events match.
func count(evs []event, match func(event) bool) int {
	n := 0
	for _, e := range evs {
		if match(e) {
			n++
		}
	}
	return n
}

// TestMixedTimeouts is the scenario where short-timeout tasks wait in one
// drain's prefetch behind long tasks, far past their leases, while a second
// drain starts: the second never takes them (their worker heartbeats), so
// no task fails or is charged without running, no outcome is dropped, and
// both drains exit 0.
func TestMixedTimeouts(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sluice.db")
	record := filepath.Join(dir, "runs.txt")
	s := openStore(t, path)
	var ps []queue.EnqueueParams
	fast := queue.EnqueueParams{Job: "slow", Payload: []byte(`{}`), Timeout: 200 * time.Millisecond, MaxAttempts: 1}
	for range 100 {
		ps = append(ps, fast)
	}
	for range 2 {
		ps = append(ps, queue.EnqueueParams{Job: "slow", Payload: []byte(`{"sleep_ms":3000}`), Timeout: 10 * time.Second, MaxAttempts: 1})
	}
	for range 200 {
		ps = append(ps, fast)
	}
	ids, err := s.EnqueueMany(context.Background(), ps)
	if err != nil {
		t.Fatal(err)
	}
	// The old lease of a fast task: 200ms + (RETRY - TIMEOUT) = 1.2s.
	env := append([]string{"RECORD_FILE=" + record, "SLUICE_WORKERS=2",
		"SLUICE_TIMEOUT=2s", "SLUICE_RETRY=3s", "SLUICE_KILL_GRACE=0s"}, fastHeartbeat...)

	first := sluice(t, path, env, "drain")
	var out1, out2 syncBuffer
	first.Stdout = &out1
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	var longStart time.Time
	waitFor(t, "both long tasks to run", 20*time.Second, func() bool {
		evs := readEvents(t, record)
		n := 0
		for _, e := range evs {
			if e.what == "start" && (e.id == ids[100] || e.id == ids[101]) {
				n, longStart = n+1, e.at
			}
		}
		return n == 2
	})
	queued := func() int {
		c, _ := s.Counts(context.Background())
		return c[queue.Queued]
	}
	t.Logf("long tasks running; %d tasks still queued, the rest in the first drain's prefetch", queued())
	waitFor(t, "the prefetched tasks' old leases to run out", 20*time.Second, func() bool {
		return time.Since(longStart) > 1500*time.Millisecond
	})
	second := sluice(t, path, env, "drain")
	second.Stdout = &out2
	if err := second.Start(); err != nil {
		t.Fatal(err)
	}
	if err := waitExit(t, second, 30*time.Second); err != nil {
		t.Fatalf("second drain: %v\n%s", err, out2.String())
	}
	if err := waitExit(t, first, 30*time.Second); err != nil {
		t.Fatalf("first drain: %v\n%s", err, out1.String())
	}
	t.Logf("first: %s", strings.TrimSpace(out1.String()))
	t.Logf("second: %s", strings.TrimSpace(out2.String()))
	for _, out := range []string{out1.String(), out2.String()} {
		if !strings.Contains(out, " 0 failed,") || strings.Contains(out, "dropped") || strings.Contains(out, "recovered") {
			t.Errorf("drain summary: %s", out)
		}
	}
	runs := map[int64]int{}
	for _, e := range readEvents(t, record) {
		if e.what == "start" {
			runs[e.id]++
		}
	}
	for _, id := range ids {
		task, err := s.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if task.State != queue.Succeeded || task.Attempt != 1 || len(task.History) != 1 || runs[id] != 1 {
			t.Errorf("task %d: %s attempt %d, %d runs, history %+v; want succeeded once", id, task.State, task.Attempt, runs[id], task.History)
		}
	}
}

// TestStoppedWorkerStopsItsCopies: a drain stopped (SIGSTOP) past the stale
// limit has its tasks taken back and started by another drain; resumed, it
// learns at its next heartbeat that it lost them, stops its attempts at once,
// drops their outcomes and exits 0. Each task is recovered once.
func TestStoppedWorkerStopsItsCopies(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sluice.db")
	record := filepath.Join(dir, "runs.txt")
	s := openStore(t, path)
	ids := enqueueN(t, s, 2, "slow", func(int) string { return `{"sleep_ms":60000}` })
	env := append([]string{"RECORD_FILE=" + record, "SLUICE_WORKERS=2", "SLUICE_SHUTDOWN_GRACE=100ms",
		"SLUICE_TIMEOUT=2m", "SLUICE_RETRY=3m"}, fastHeartbeat...)

	a := sluice(t, path, env, "drain")
	var outA syncBuffer
	a.Stdout = &outA
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	defer a.Process.Kill()
	startedBy := func(pid int) int {
		return count(readEvents(t, record), func(e event) bool { return e.what == "start" && e.pid == pid })
	}
	waitFor(t, "the first drain to start both tasks", 20*time.Second, func() bool { return startedBy(a.Process.Pid) == 2 })
	a.Process.Signal(syscall.SIGSTOP)
	waitDead(t, s)

	b := sluice(t, path, env, "drain")
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	defer b.Process.Kill()
	waitFor(t, "the second drain to start both tasks", 20*time.Second, func() bool { return startedBy(b.Process.Pid) == 2 })
	a.Process.Signal(syscall.SIGCONT)
	resumed := time.Now()
	if err := waitExit(t, a, 20*time.Second); err != nil {
		t.Fatalf("resumed drain: %v\n%s", err, outA.String())
	}
	if !strings.Contains(outA.String(), "2 stale outcomes dropped") {
		t.Errorf("resumed drain's summary: %s", outA.String())
	}
	evs := readEvents(t, record)
	for _, id := range ids {
		var stopA time.Time
		for _, e := range evs {
			switch {
			case e.id == id && e.pid == a.Process.Pid && e.what == "stop":
				stopA = e.at
			}
		}
		if stopA.IsZero() {
			t.Errorf("task %d: the resumed drain never stopped its attempt", id)
		}
		if count(evs, func(e event) bool { return e.id == id && e.pid == b.Process.Pid && e.what == "stop" }) > 0 {
			t.Errorf("task %d: the second drain's attempt was stopped", id)
		}
		t.Logf("task %d: the resumed drain stopped its attempt %s after SIGCONT", id, stopA.Sub(resumed).Round(time.Millisecond))
		task, _ := s.Get(context.Background(), id)
		if task.State != queue.Running || task.Attempt != 2 || len(task.History) != 1 ||
			task.History[0].Outcome != queue.OutcomeWorkerDied {
			t.Errorf("task %d: %s attempt %d history %+v; want running attempt 2 after one recovery", id, task.State, task.Attempt, task.History)
		}
	}
	b.Process.Signal(syscall.SIGTERM)
	if err := waitExit(t, b, 20*time.Second); err != nil {
		t.Fatalf("second drain: %v", err)
	}
}

// TestKillNineRecoveredWithinStaleLimit kills a drain holding a running task
// and a prefetched one; a `sluice run` started at the kill runs both again
// once the dead worker's heartbeat is stale: the running one charged, the
// prefetched one not. The time from kill to rerun is logged (BENCHMARKS.md).
func TestKillNineRecoveredWithinStaleLimit(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sluice.db")
	record := filepath.Join(dir, "runs.txt")
	s := openStore(t, path)
	ids := enqueueN(t, s, 2, "slow", func(int) string { return `{"sleep_ms":60000}` })
	env := append([]string{"RECORD_FILE=" + record, "SLUICE_WORKERS=1", "SLUICE_SHUTDOWN_GRACE=100ms",
		"SLUICE_TIMEOUT=2m", "SLUICE_RETRY=3m"}, fastHeartbeat...)
	a := sluice(t, path, env, "drain")
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the drain to run one task and hold the other", 20*time.Second, func() bool {
		c, _ := s.Counts(context.Background())
		return c[queue.Running] == 2 && len(readEvents(t, record)) == 1
	})
	a.Process.Signal(syscall.SIGKILL)
	a.Wait()
	killed := time.Now()

	b := sluice(t, path, append(env, "SLUICE_WORKERS=2"), "run")
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	defer b.Process.Kill()
	waitFor(t, "both tasks to run again", 30*time.Second, func() bool {
		return count(readEvents(t, record), func(e event) bool { return e.what == "start" && e.pid == b.Process.Pid }) == 2
	})
	t.Logf("rerun %s after the kill (stale limit 5.2s)", time.Since(killed).Round(10*time.Millisecond))
	want := map[string]int{queue.OutcomeWorkerDied: 2, queue.OutcomeWorkerDiedUnstarted: 1} // outcome: attempt now
	for _, id := range ids {
		task, _ := s.Get(context.Background(), id)
		if len(task.History) != 1 || task.State != queue.Running || want[task.History[0].Outcome] != task.Attempt {
			t.Errorf("task %d: %s attempt %d history %+v", id, task.State, task.Attempt, task.History)
		}
		delete(want, task.History[0].Outcome)
	}
	if len(want) > 0 {
		t.Errorf("no task recovered as %v", want)
	}
	// sluice show tells the charged attempt from the uncharged one.
	for _, id := range ids {
		out, _ := mustRun(t, sluice(t, path, nil, "show", fmt.Sprint(id)))
		task, _ := s.Get(context.Background(), id)
		if wantText := task.History[0].Outcome; !strings.Contains(out, wantText) || !strings.Contains(out, task.History[0].Error) {
			t.Errorf("show %d does not say %q, %q:\n%s", id, wantText, task.History[0].Error, out)
		}
	}
	b.Process.Signal(syscall.SIGTERM)
	if err := waitExit(t, b, 20*time.Second); err != nil {
		t.Fatalf("run: %v", err)
	}
}

// TestPowerCut puts the queue on an ext4 image on a loop device, runs tasks
// through a `sluice run` and enqueues more, then aborts the filesystem (as a
// power cut would: nothing not yet synced reaches the disk) while the run
// still has the file open. With SLUICE_SYNC=full every enqueue that returned
// and every outcome seen committed is there after a remount; with normal the
// test only reports what was lost.
func TestPowerCut(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: a loop device and mounts need root")
	}
	for _, mode := range []string{"full", "normal"} {
		t.Run(mode, func(t *testing.T) { powerCut(t, mode) })
	}
}

func powerCut(t *testing.T, mode string) {
	dir := t.TempDir()
	img, mnt := filepath.Join(dir, "disk.img"), filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	sh := func(args ...string) error {
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %v %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := sh("truncate", "-s", "64M", img); err != nil {
		t.Skipf("skipped: cannot make an ext4 image here: %v", err)
	}
	if err := sh("mkfs.ext4", "-q", img); err != nil {
		t.Skipf("skipped: cannot make an ext4 image here: %v", err)
	}
	if err := sh("mount", "-o", "loop", img, mnt); err != nil {
		t.Skipf("skipped: cannot mount an ext4 image on a loop device here: %v", err)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	path := filepath.Join(mnt, "sluice.db")
	env := []string{"SLUICE_SYNC=" + mode, "SLUICE_WORKERS=4"}

	run := sluice(t, path, env, "run")
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	defer run.Process.Kill()
	db, err := sqlitewal.Open(context.Background(), path, sqlitewal.Options{Migrations: queue.Migrations, Sync: sqlitewal.Sync(mode)})
	if err != nil {
		t.Fatal(err)
	}
	s := queue.New(db, queue.NewOpts{})
	var acked []int64
	enqueue := func(n int) {
		for i := range n {
			id, err := s.Enqueue(context.Background(), queue.EnqueueParams{Job: "echo_test", Payload: []byte(fmt.Sprintf(`{"i":%d}`, i))})
			if err != nil {
				t.Fatal(err)
			}
			acked = append(acked, id)
		}
	}
	for range 2 { // the second round's outcomes are committed just before the cut
		enqueue(25)
		waitFor(t, "the run to finish every task", 20*time.Second, func() bool {
			c, _ := s.Counts(context.Background())
			return c[queue.Succeeded] == len(acked)
		})
	}
	succeeded := map[int64]bool{}
	for _, id := range acked {
		if task, err := s.Get(context.Background(), id); err == nil && task.State == queue.Succeeded {
			succeeded[id] = true
		}
	}

	if err := sh("mount", "-o", "remount,abort", mnt); err != nil {
		t.Skipf("skipped: cannot abort the filesystem here: %v", err)
	}
	run.Process.Signal(syscall.SIGKILL)
	run.Wait()
	s.Close() // fails: the filesystem is read-only now
	if err := sh("umount", mnt); err != nil {
		t.Fatal(err)
	}
	if err := sh("mount", "-o", "loop", img, mnt); err != nil {
		t.Fatal(err)
	}
	after, err := queue.Open(context.Background(), path)
	if err != nil {
		t.Fatalf("open after the power cut: %v", err)
	}
	defer after.Close()
	missing, undone := 0, 0
	for _, id := range acked {
		task, err := after.Get(context.Background(), id)
		switch {
		case err != nil:
			missing++
		case succeeded[id] && task.State != queue.Succeeded:
			undone++
		}
	}
	t.Logf("SLUICE_SYNC=%s: %d acknowledged enqueues, %d committed outcomes; after the power cut %d enqueues missing, %d outcomes undone",
		mode, len(acked), len(succeeded), missing, undone)
	if mode == "full" && missing+undone > 0 {
		t.Errorf("with SLUICE_SYNC=full, %d acknowledged enqueues and %d committed outcomes were lost", missing, undone)
	}
}
