package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/sluicehq/sluice/cli"
	"github.com/sluicehq/sluice/internal/pgtest"
	"github.com/sluicehq/sluice/pgqueue"
	"github.com/sluicehq/sluice/queue"
)

// sluiceProcess runs the built binary with SLUICE_DB=db and returns its
// stdout; it fails the test if the command fails.
func sluiceProcess(tb testing.TB, db string, args ...string) *exec.Cmd {
	tb.Helper()
	cmd := exec.Command(sluiceBinary(tb), args...)
	cmd.Env = environ(db)
	return cmd
}

func runProcess(tb testing.TB, cmd *exec.Cmd) string {
	tb.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("%s: %v\nstdout: %s\nstderr: %s", strings.Join(cmd.Args, " "), err, &stdout, &stderr)
	}
	return stdout.String()
}

// openPG opens the PostgreSQL store at url, as a test's window on it.
func openPG(tb testing.TB, url string) *pgqueue.Store {
	tb.Helper()
	s, err := pgqueue.Open(context.Background(), url, pgqueue.NewOpts{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// TestPostgresEnqueueAndDrain: SLUICE_DB=postgres://… selects the
// PostgreSQL store for the same commands, as real processes.
func TestPostgresEnqueueAndDrain(t *testing.T) {
	url := pgtest.URL(t)
	out := runProcess(t, sluiceProcess(t, url, "enqueue", "-json", "echo_test", `{"hello":"pg"}`))
	var id int64
	if m := regexp.MustCompile(`"id":\s*(\d+)`).FindStringSubmatch(out); m != nil {
		id, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if id == 0 {
		t.Fatalf("enqueue -json printed %q; want an id", out)
	}
	runProcess(t, sluiceProcess(t, url, "drain"))
	got, err := openPG(t, url).Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != queue.Succeeded || string(got.Result) != `{"hello":"pg"}` {
		t.Errorf("task after drain = %s with result %q; want succeeded with its payload", got.State, got.Result)
	}
	show := runProcess(t, sluiceProcess(t, url, "show", "-json", strconv.FormatInt(id, 10)))
	if !strings.Contains(show, `"succeeded"`) {
		t.Errorf("show -json = %s; want the succeeded task", show)
	}
	if status := runProcess(t, sluiceProcess(t, url, "status", "-json")); !strings.Contains(status, `"succeeded": 1`) {
		t.Errorf("status -json = %s; want one succeeded task", status)
	}
	later := runProcess(t, sluiceProcess(t, url, "enqueue", "-delay", "1h", "echo_test", "{}"))
	if out := runProcess(t, sluiceProcess(t, url, "cancel", strings.TrimSpace(later))); !strings.Contains(out, "cancel") {
		t.Errorf("cancel printed %q", out)
	}
}

// TestPostgresConcurrentDrains: two drain processes on one PostgreSQL
// database run each task exactly once between them.
func TestPostgresConcurrentDrains(t *testing.T) {
	const n = 2000
	url := pgtest.URL(t)
	s := openPG(t, url)
	ps := make([]queue.EnqueueParams, n)
	for i := range ps {
		ps[i] = queue.EnqueueParams{Job: "echo_test", Payload: []byte(fmt.Sprintf(`{"i":%d}`, i))}
	}
	if _, err := s.EnqueueMany(context.Background(), ps); err != nil {
		t.Fatal(err)
	}
	drains := []*exec.Cmd{sluiceProcess(t, url, "drain"), sluiceProcess(t, url, "drain")}
	outs := make([]bytes.Buffer, len(drains))
	for i, cmd := range drains {
		cmd.Stdout = &outs[i]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
	}
	ran := 0
	for i, cmd := range drains {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("drain %d: %v\n%s", i, err, &outs[i])
		}
		m := regexp.MustCompile(`(\d+) ran`).FindStringSubmatch(outs[i].String())
		if m == nil {
			t.Fatalf("drain %d printed %q; want its summary", i, &outs[i])
		}
		k, _ := strconv.Atoi(m[1])
		ran += k
	}
	if ran != n {
		t.Errorf("the drains ran %d attempts between them; want %d, one per task", ran, n)
	}
	tasks, err := s.List(context.Background(), queue.ListParams{Limit: 2 * n})
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != n {
		t.Fatalf("listed %d tasks; want %d", len(tasks), n)
	}
	for _, task := range tasks {
		if task.State != queue.Succeeded || task.Attempt != 1 {
			t.Errorf("task %d: %s after %d attempts; want succeeded at the first", task.ID, task.State, task.Attempt)
		}
	}
}

// TestPostgresRunWakesOnAnotherProcessEnqueue: sluice run on PostgreSQL
// starts a task another process enqueued through LISTEN/NOTIFY, long before
// its hour-long SLUICE_POLL, and stops cleanly on SIGTERM.
func TestPostgresRunWakesOnAnotherProcessEnqueue(t *testing.T) {
	url := pgtest.URL(t)
	s := openPG(t, url) // migrates before run starts listening
	run := exec.Command(sluiceBinary(t), "run")
	run.Env = environ(url, "SLUICE_POLL=1h")
	var out lockedBuffer
	run.Stdout, run.Stderr = &out, &out
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	defer run.Process.Kill()
	// Enqueue once run is idle: its startup drain found nothing, so only a
	// notification (or the hour's poll) can start the task.
	waitFor(t, "sluice run to start", func() bool { return strings.Contains(out.String(), "running until signalled") })
	id := strings.TrimSpace(runProcess(t, sluiceProcess(t, url, "enqueue", "echo_test", `{"from":"elsewhere"}`)))
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		t.Fatalf("enqueue printed %q; want an id", id)
	}
	waitFor(t, "the task to succeed", func() bool {
		got, err := s.Get(context.Background(), n)
		return err == nil && got.State == queue.Succeeded
	})
	if err := run.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := run.Wait(); err != nil {
		t.Fatalf("sluice run after SIGTERM: %v\n%s", err, &out)
	}
}

// lockedBuffer is a bytes.Buffer a process writes while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestPostgresPasswordNotLogged: the "database opened" record names the
// database with its password redacted.
func TestPostgresPasswordNotLogged(t *testing.T) {
	url := pgtest.URL(t)
	if !strings.Contains(url, "postgres@") {
		t.Skipf("pgtest URL %q has no user to give a password", url)
	}
	url = strings.Replace(url, "postgres@", "postgres:s3cret@", 1) // the test server trusts its socket
	var stdout, stderr bytes.Buffer
	m := &cli.Main{Environ: environ(url), Stdout: &stdout, Stderr: &stderr}
	if err := m.Run(context.Background(), []string{"status"}); err != nil {
		t.Fatalf("status: %v\n%s", err, &stderr)
	}
	if strings.Contains(stderr.String(), "s3cret") || !strings.Contains(stderr.String(), "database opened") {
		t.Errorf("logs = %s; want the database named without its password", &stderr)
	}
}
