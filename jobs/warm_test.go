package jobs_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/jobs"
	"github.com/sluicehq/sluice/supervisor"
)

// envWarmWorker makes the test binary a reference warm worker (see warmWorker).
const envWarmWorker = "SLUICE_TEST_WARM_WORKER"

// beWarmWorker makes this test binary the reference warm worker when the
// environment asks for it (TestMain calls it first).
func beWarmWorker() {
	switch os.Getenv(envWarmWorker) {
	case "serve":
		os.Exit(warmWorker())
	case "fail-start":
		fmt.Fprintln(os.Stderr, "ImproperlyConfigured: settings are missing")
		os.Exit(3)
	}
}

// warmWorker speaks docs/warm-protocol.md. Payload fields choose what a task
// does: echo (the result), fail (an error), permanent, exit (die with that
// status after writing stderr), sleep_ms, spawn (a grandchild `sleep`, its pid
// written to that file), pid (the result is this process's pid).
func warmWorker() int {
	if os.Getenv(jobs.EnvWarmProtocol) != "1" {
		return 2
	}
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(out, `{"sluice":1}`)
	out.Flush()
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(nil, 4<<20)
	for in.Scan() {
		var req struct {
			ID      int64 `json:"id"`
			Payload struct {
				Echo      json.RawMessage `json:"echo"`
				Fail      string          `json:"fail"`
				Permanent bool            `json:"permanent"`
				Exit      int             `json:"exit"`
				Stderr    string          `json:"stderr"`
				SleepMS   int             `json:"sleep_ms"`
				Spawn     string          `json:"spawn"`
				Escape    bool            `json:"escape"`
				PID       bool            `json:"pid"`
			} `json:"payload"`
		}
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			return 4
		}
		p := req.Payload
		fmt.Fprint(os.Stderr, p.Stderr)
		if p.Spawn != "" {
			c := exec.Command("sleep", "300")
			c.SysProcAttr = &syscall.SysProcAttr{Setsid: p.Escape} // leaves the process group
			if c.Start() != nil || os.WriteFile(p.Spawn, []byte(strconv.Itoa(c.Process.Pid)), 0o600) != nil {
				return 5
			}
		}
		if p.Exit != 0 {
			return p.Exit
		}
		time.Sleep(time.Duration(p.SleepMS) * time.Millisecond)
		reply := map[string]any{"id": req.ID, "ok": true}
		switch {
		case p.Fail != "":
			reply = map[string]any{"id": req.ID, "ok": false, "error": p.Fail, "permanent": p.Permanent}
		case p.PID:
			reply["result"] = os.Getpid()
		case p.Echo != nil:
			reply["result"] = p.Echo
		}
		b, _ := json.Marshal(reply)
		out.Write(append(b, '\n'))
		out.Flush()
	}
	return 0
}

// refWorker returns options that start the reference worker in mode.
func refWorker(tb testing.TB, mode string) jobs.WarmOpts {
	tb.Helper()
	self, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	return jobs.WarmOpts{Argv: []string{self}, Env: append(os.Environ(), envWarmWorker+"="+mode), KillGrace: 200 * time.Millisecond}
}

func newWarm(tb testing.TB, opts jobs.WarmOpts) (jobs.Job, *jobs.Pool) {
	tb.Helper()
	j, p := jobs.Warm("w", opts)
	tb.Cleanup(func() { p.Close() })
	if !j.Isolated {
		tb.Fatal("warm jobs must be isolated: the worker waits for them")
	}
	return j, p
}

func runTask(j jobs.Job, id int64, payload string, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ctx = jobs.WithInfo(ctx, jobs.Info{TaskID: id, Job: "w", Attempt: 1, Deadline: time.Now().Add(timeout)})
	return j.Func(ctx, json.RawMessage(payload))
}

func pidOf(tb testing.TB, j jobs.Job) string {
	tb.Helper()
	out, err := runTask(j, 1, `{"pid":true}`, 10*time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	return string(out)
}

func TestWarmServesManyTasksInOneProcess(t *testing.T) {
	j, p := newWarm(t, refWorker(t, "serve"))
	for i := range 20 {
		want := fmt.Sprintf(`{"n":%d}`, i)
		out, err := runTask(j, int64(i), `{"echo":`+want+`}`, 10*time.Second)
		if err != nil || string(out) != want {
			t.Fatalf("task %d = %q, %v; want %q", i, out, err, want)
		}
	}
	if got := p.Started(); got != 1 {
		t.Errorf("started %d processes for 20 tasks; want 1", got)
	}
}

func TestWarmFailedTaskKeepsItsProcess(t *testing.T) {
	j, p := newWarm(t, refWorker(t, "serve"))
	_, err := runTask(j, 1, `{"fail":"no such user"}`, 10*time.Second)
	if err == nil || err.Error() != "no such user" || jobs.IsPermanent(err) {
		t.Fatalf("err = %v; want the worker's error, retryable", err)
	}
	_, err = runTask(j, 2, `{"fail":"bad payload","permanent":true}`, 10*time.Second)
	if !jobs.IsPermanent(err) {
		t.Errorf("err = %v; want a permanent error", err)
	}
	if out, err := runTask(j, 3, `{"echo":1}`, 10*time.Second); err != nil || string(out) != "1" {
		t.Errorf("after failures: %q, %v", out, err)
	}
	if got := p.Started(); got != 1 {
		t.Errorf("started %d processes; want 1", got)
	}
}

func TestWarmTimeoutKillsTheProcessAndWhatItStarted(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		supervisor *supervisor.Opts
		escape     bool
	}{
		{"process group", nil, false},
		{"supervisor", &supervisor.Opts{Self: self}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.supervisor != nil && !supervisor.Supported {
				t.Skip("no supervisor on this system")
			}
			opts := refWorker(t, "serve")
			opts.Supervisor = tc.supervisor
			j, p := newWarm(t, opts)
			before := pidOf(t, j)
			pidfile := t.TempDir() + "/grandchild"
			payload := fmt.Sprintf(`{"spawn":%q,"escape":%v,"sleep_ms":60000}`, pidfile, tc.escape)
			if _, err := runTask(j, 2, payload, 500*time.Millisecond); err == nil {
				t.Fatal("a task over its deadline succeeded")
			}
			b, err := os.ReadFile(pidfile)
			if err != nil {
				t.Fatal(err)
			}
			grandchild, _ := strconv.Atoi(string(b))
			waitGone(t, grandchild)
			if after := pidOf(t, j); after == before {
				t.Errorf("the killed process %s served again", before)
			}
			if got := p.Started(); got != 2 {
				t.Errorf("started %d processes; want 2", got)
			}
		})
	}
}

// waitGone polls until pid no longer runs (gone, or a zombie nobody reaped).
func waitGone(tb testing.TB, pid int) {
	tb.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || strings.Contains(string(b), ") Z ") {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	tb.Fatalf("process %d outlived its task", pid)
}

func TestWarmDeathMidTaskIsAFailedAttemptWithStderr(t *testing.T) {
	j, p := newWarm(t, refWorker(t, "serve"))
	_, err := runTask(j, 1, `{"stderr":"Traceback: KeyError 'x'\n","exit":7}`, 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "exited during the task") || !strings.Contains(err.Error(), "KeyError 'x'") {
		t.Fatalf("err = %v; want a death with the stderr tail", err)
	}
	if jobs.IsPermanent(err) {
		t.Error("a crash must be retried")
	}
	if out, err := runTask(j, 2, `{"echo":"again"}`, 10*time.Second); err != nil || string(out) != `"again"` {
		t.Errorf("next task = %q, %v", out, err)
	}
	if got := p.Started(); got != 2 {
		t.Errorf("started %d processes; want 2", got)
	}
}

func TestWarmFailedStartBacksOff(t *testing.T) {
	now := time.Unix(1700000000, 0)
	opts := refWorker(t, "fail-start")
	opts.Now = func() time.Time { return now }
	j, p := newWarm(t, opts)
	_, err := runTask(j, 1, `{}`, 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "exited before its handshake") || !strings.Contains(err.Error(), "settings are missing") {
		t.Fatalf("err = %v; want a start failure with stderr", err)
	}
	for range 3 {
		_, err = runTask(j, 2, `{}`, 10*time.Second)
		if err == nil || !strings.Contains(err.Error(), "not starting a process for 1s after 1 failed starts") {
			t.Fatalf("err = %v; want the backoff", err)
		}
	}
	if got := p.Started(); got != 1 {
		t.Fatalf("started %d processes during the backoff; want 1", got)
	}
	now = now.Add(time.Second)
	runTask(j, 3, `{}`, 10*time.Second)
	_, err = runTask(j, 4, `{}`, 10*time.Second)
	if got := p.Started(); got != 2 || err == nil || !strings.Contains(err.Error(), "for 2s after 2 failed starts") {
		t.Errorf("started %d, err %v; want a second start and a doubled pause", got, err)
	}
}

func TestWarmRecycle(t *testing.T) {
	for _, tc := range []struct {
		name    string
		recycle int
		maxRSS  int64
		want    int // processes for 6 tasks
	}{
		{"after 3 tasks", 3, 0, 2},
		{"over the memory ceiling", 0, 1, 6},
		{"never", 0, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := refWorker(t, "serve")
			opts.Recycle, opts.MaxRSS = tc.recycle, tc.maxRSS
			j, p := newWarm(t, opts)
			for i := range 6 {
				if _, err := runTask(j, int64(i), `{}`, 10*time.Second); err != nil {
					t.Fatal(err)
				}
			}
			if got := p.Started(); got != tc.want {
				t.Errorf("started %d processes; want %d", got, tc.want)
			}
		})
	}
}

func TestWarmProtocolViolationKillsTheProcess(t *testing.T) {
	j, _ := newWarm(t, jobs.WarmOpts{Argv: []string{"sh", "-c", `echo '{"sluice":1}'; read line; echo 'print("hello")'; sleep 60`}, KillGrace: 100 * time.Millisecond})
	_, err := runTask(j, 1, `{}`, 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "protocol") {
		t.Fatalf("err = %v; want a protocol error", err)
	}
}

func TestWarmWrongHandshake(t *testing.T) {
	j, _ := newWarm(t, jobs.WarmOpts{Argv: []string{"sh", "-c", `echo '{"sluice":2}'; sleep 60`}, KillGrace: 100 * time.Millisecond})
	_, err := runTask(j, 1, `{}`, 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), `want {"sluice":1}`) {
		t.Fatalf("err = %v; want a handshake error", err)
	}
}
