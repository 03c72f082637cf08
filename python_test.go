package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pythonScript drives clients/python/sluice_queue.py the way an application
// would. Usage: python3 -c SCRIPT CLIENT_DIR DB MODE [ARG].
const pythonScript = `
import datetime, json, sqlite3, sys
sys.path.insert(0, sys.argv[1])
import sluice_queue as sq

path, mode = sys.argv[2], sys.argv[3]

if mode == "enqueue":
    out = {"ok": [], "errors": [], "contract_errors": []}
    for i in range(100):
        out["ok"].append(sq.enqueue(path, "echo_test", {"i": i}))
    # Drains run beside this process: the first half finishes while the
    # second half is still to be enqueued.
    out["first_half_waited"] = sq.wait(path, out["ok"][-1], timeout=60)["state"]
    conn = sq.connect(path)
    try:
        for i in range(100, 200):
            out["ok"].append(sq.enqueue(path, "echo_test", {"i": i}, queue="default", priority=i % 3,
                                        max_attempts=2, timeout=5, group="py", conn=conn))
        out["delayed"] = sq.enqueue(path, "echo_test", {"later": True}, delay=3600, conn=conn)
        out["unknown"] = sq.enqueue(path, "no_such_job", max_attempts=2, conn=conn)
        # Rows the client refuses, written with the contract's raw INSERT.
        row = dict(job="echo_test", payload='{"a":', queue=None, priority=None, run_at=None,
                   max_attempts=None, timeout_ms=None, task_group=None)
        out["bad_json"] = conn.execute(sq.ENQUEUE_SQL, row).lastrowid
        # The schema refuses this one itself (migration 0007).
        row.update(payload=None, priority=-1)
        try:
            conn.execute(sq.ENQUEUE_SQL, row)
            out["negative_refused"] = None
        except sqlite3.IntegrityError as e:
            out["negative_refused"] = str(e)
    finally:
        conn.close()
    for bad in [dict(job=" "), dict(job="x", priority=-1), dict(job="x", timeout=0),
                dict(job="x", run_at=datetime.datetime.now()), dict(job="x", delay=1, run_at=datetime.datetime.now(datetime.timezone.utc)),
                dict(job="x", payload="x" * sq.MAX_PAYLOAD)]:
        try:
            sq.enqueue(path, **bad)
            out["errors"].append(None)
        except ValueError as e:
            out["errors"].append(str(e))
    plain = path + ".plain"
    sqlite3.connect(plain).execute("CREATE TABLE t (x)").connection.close()
    for p in [plain, path + ".missing"]:
        try:
            sq.connect(p).close()
            out["contract_errors"].append(None)
        except sq.ContractError as e:
            out["contract_errors"].append(str(e))
    print(json.dumps(out))

elif mode == "wait":
    ids = json.loads(sys.argv[4])
    print(json.dumps({"tasks": [sq.wait(path, i, timeout=60) for i in ids],
                      "missing": sq.fetch(path, 10**9)}))
`

func python(t *testing.T, ctx context.Context, db string, args ...string) []byte {
	t.Helper()
	client, err := filepath.Abs("clients/python")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, "python3", append([]string{"-c", pythonScript, client, db}, args...)...)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3 %s: %v\n%s", args[0], err, stderr.String())
	}
	return out
}

type pyTask struct {
	ID          int64            `json:"id"`
	Job         string           `json:"job"`
	Payload     string           `json:"payload"`
	Queue       string           `json:"queue"`
	Priority    int              `json:"priority"`
	State       string           `json:"state"`
	Attempt     int              `json:"attempt"`
	MaxAttempts *int             `json:"max_attempts"`
	TimeoutMS   *int             `json:"timeout_ms"`
	Group       *string          `json:"task_group"`
	RunAt       int64            `json:"run_at"`
	Result      *string          `json:"result"`
	Error       *string          `json:"error"`
	History     []map[string]any `json:"history"`
}

// TestPythonClient enqueues from python3 while a loop of `sluice drain`
// processes runs, as a web app beside a systemd timer would, then reads the
// results back from Python.
func TestPythonClient(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not on PATH: the Python client test needs it (standard library only, nothing from pip)")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	path := filepath.Join(t.TempDir(), "sluice.db")
	s := openStore(t, path) // Sluice creates the database; clients never do
	due := func() (n int, err error) {
		err = s.DB().Read.QueryRow(`SELECT count(*) FROM tasks WHERE state IN ('queued', 'running') AND run_at <= ?`,
			time.Now().UnixMilli()).Scan(&n)
		return n, err
	}

	// The drain loop: like a timer firing drains back to back.
	stop := make(chan struct{})
	drained := make(chan error, 1)
	drains := 0
	go func() {
		for {
			var stopping bool
			select {
			case <-stop:
				stopping = true
			default:
			}
			out, err := sluice(t, path, []string{"SLUICE_BACKOFF_BASE=1ms", "SLUICE_LOG_LEVEL=error"}, "drain").CombinedOutput()
			if err != nil {
				drained <- fmt.Errorf("drain %d: %v\n%s", drains, err, out)
				return
			}
			drains++
			if stopping {
				n, err := due()
				if err != nil || n == 0 {
					drained <- err
					return
				}
			}
			if ctx.Err() != nil {
				drained <- ctx.Err()
				return
			}
		}
	}()

	var enq struct {
		OK              []int64   `json:"ok"`
		FirstHalf       string    `json:"first_half_waited"`
		Delayed         int64     `json:"delayed"`
		Unknown         int64     `json:"unknown"`
		BadJSON         int64     `json:"bad_json"`
		NegativeRefused *string   `json:"negative_refused"`
		Errors          []*string `json:"errors"`
		ContractErrors  []*string `json:"contract_errors"`
	}
	out := python(t, ctx, path, "enqueue")
	close(stop)
	if err := json.Unmarshal(out, &enq); err != nil {
		t.Fatalf("python output %s: %v", out, err)
	}
	if err := <-drained; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d drains ran while and after python enqueued", drains)
	if len(enq.OK) != 200 || enq.FirstHalf != "succeeded" {
		t.Fatalf("enqueued %d, first half %q; want 200 and succeeded", len(enq.OK), enq.FirstHalf)
	}

	t.Run("the client refuses bad options", func(t *testing.T) {
		want := []string{"job name is empty", "priority -1 must be an int >= 0", "timeout 0 must be at least a millisecond",
			"run_at must be a timezone-aware datetime", "run_at and delay cannot be used together",
			"payload is 262146 bytes, over the limit of 262144"}
		for i, w := range want {
			if i >= len(enq.Errors) || enq.Errors[i] == nil || !strings.Contains(*enq.Errors[i], w) {
				t.Errorf("case %d: error %v; want %q", i, enq.Errors, w)
			}
		}
		for i, w := range []string{"no Sluice contract in this database", "let Sluice create the queue first"} {
			if i >= len(enq.ContractErrors) || enq.ContractErrors[i] == nil || !strings.Contains(*enq.ContractErrors[i], w) {
				t.Errorf("contract error %d: %v; want %q", i, enq.ContractErrors, w)
			}
		}
	})

	t.Run("the schema refuses a negative priority", func(t *testing.T) {
		if enq.NegativeRefused == nil || !strings.Contains(*enq.NegativeRefused, "invalid row: priority must be a whole number") {
			t.Errorf("insert of priority -1: %v; want refused", enq.NegativeRefused)
		}
	})

	ids := append(append([]int64{}, enq.OK...), enq.Unknown, enq.BadJSON)
	idJSON, _ := json.Marshal(ids)
	var got struct {
		Tasks   []pyTask `json:"tasks"`
		Missing *pyTask  `json:"missing"`
	}
	if err := json.Unmarshal(python(t, ctx, path, "wait", string(idJSON)), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Tasks) != len(ids) || got.Missing != nil {
		t.Fatalf("python read %d tasks (missing: %v); want %d and none", len(got.Tasks), got.Missing, len(ids))
	}

	t.Run("results read back", func(t *testing.T) {
		for i, task := range got.Tasks[:200] {
			want := fmt.Sprintf(`{"i":%d}`, i)
			if task.ID != enq.OK[i] || task.State != "succeeded" || task.Result == nil || *task.Result != want ||
				task.Payload != want || len(task.History) != 1 {
				t.Fatalf("task %d = %+v; want succeeded with result %s", i, task, want)
			}
			if i >= 100 && (task.Priority != i%3 || *task.MaxAttempts != 2 || *task.TimeoutMS != 5000 || *task.Group != "py") {
				t.Fatalf("task %d options = %+v", i, task)
			}
		}
	})

	t.Run("bad rows end failed with their reason", func(t *testing.T) {
		for _, c := range []struct {
			task     pyTask
			attempts int
			err      string
		}{
			{got.Tasks[200], 2, `unknown job "no_such_job"`},
			{got.Tasks[201], 1, "payload is not valid JSON"},
		} {
			if c.task.State != "failed" || c.task.Attempt != c.attempts || c.task.Error == nil ||
				!strings.Contains(*c.task.Error, c.err) {
				t.Errorf("task %d = %s, attempt %d, error %v; want failed, %d, %q", c.task.ID, c.task.State,
					c.task.Attempt, c.task.Error, c.attempts, c.err)
			}
		}
	})

	t.Run("a delayed task waits", func(t *testing.T) {
		task, err := s.Get(ctx, enq.Delayed)
		if err != nil {
			t.Fatal(err)
		}
		if task.State != "queued" || time.Until(task.RunAt) < 59*time.Minute {
			t.Errorf("delayed task = %s at %s; want queued about an hour from now", task.State, task.RunAt)
		}
	})
}
