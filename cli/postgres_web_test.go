package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/sluicehq/sluice/internal/pgtest"
	"github.com/sluicehq/sluice/queue"
)

// serving is a sluice process serving HTTP.
type serving struct {
	cmd    *exec.Cmd
	out    *lockedBuffer
	exited chan error
	base   string // http://host:port
}

// startServing starts cmd and returns once it logs msg with the address of
// its listener (port 0: the system picks one).
func startServing(t *testing.T, cmd *exec.Cmd, msg string) *serving {
	t.Helper()
	sv := &serving{cmd: cmd, out: &lockedBuffer{}, exited: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = sv.out, sv.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { sv.exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	waitFor(t, msg, func() bool {
		select {
		case err := <-sv.exited:
			t.Fatalf("%s ended early: %v\n%s", cmd.Args, err, sv.out)
		default:
		}
		for line := range strings.Lines(sv.out.String()) {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == msg && rec.Addr != "" {
				sv.base = "http://" + rec.Addr
				return true
			}
		}
		return false
	})
	return sv
}

// stop sends SIGTERM and wants a clean exit.
func (sv *serving) stop(t *testing.T) {
	t.Helper()
	if err := sv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-sv.exited; err != nil {
		t.Fatalf("%s after SIGTERM: %v\n%s", sv.cmd.Args, err, sv.out)
	}
}

// TestPostgresWeb: sluice web serves the pages of a PostgreSQL queue, and
// an action with the token changes it; sluice purge -group works there too.
func TestPostgresWeb(t *testing.T) {
	const tok = "web-token-0123456789"
	db := pgtest.URL(t)
	s := openPG(t, db)
	ctx := context.Background()
	var done []int64
	for range 2 {
		id, err := s.Enqueue(ctx, queue.EnqueueParams{Job: "echo_test", Group: "import"})
		if err != nil {
			t.Fatal(err)
		}
		done = append(done, id)
	}
	if _, err := s.Cancel(ctx, done); err != nil {
		t.Fatal(err)
	}
	waiting, err := s.Enqueue(ctx, queue.EnqueueParams{Job: "echo_test", Group: "import"})
	if err != nil {
		t.Fatal(err)
	}

	web := exec.Command(sluiceBinary(t), "web", "-addr", "127.0.0.1:0")
	web.Env = environ(db, "SLUICE_WEB_TOKEN="+tok)
	sv := startServing(t, web, "serving the web pages")
	base := sv.base
	for path, want := range map[string]string{
		"/":                               "<h1>Overview</h1>",
		"/failures":                       "<h1>Failures</h1>",
		"/tasks?state=cancelled":          fmt.Sprintf(`href="/tasks/%d"`, done[0]),
		"/tasks?state=queued":             fmt.Sprintf(`href="/tasks/%d"`, waiting),
		fmt.Sprintf("/tasks/%d", waiting): "echo_test",
		"/schedules":                      "<h1>Schedules</h1>",
	} {
		if code, body := httpGet(t, base+path); code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("GET %s: %d; want 200 with %q:\n%.2000s", path, code, want, body)
		}
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.PostForm(fmt.Sprintf("%s/tasks/%d/cancel", base, waiting), url.Values{"token": {tok}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if task, err := s.Get(ctx, waiting); resp.StatusCode != http.StatusSeeOther || err != nil || task.State != queue.Cancelled {
		t.Errorf("cancel through the page: %d, task %s (%v); want 303 and cancelled", resp.StatusCode, task.State, err)
	}
	sv.stop(t)

	if got := runProcess(t, sluiceProcess(t, db, "purge", "-group", "import")); got != "purged 3 finished tasks of group import\n" {
		t.Errorf("purge -group printed %q", got)
	}
	if sum, err := s.Groups(ctx, "import"); err != nil || sum[0].Total != 0 {
		t.Errorf("group after the purge = %+v, %v; want empty", sum, err)
	}
}

// TestPostgresRunServesPages: sluice run on PostgreSQL serves the web pages
// beside /metrics on SLUICE_HTTP_ADDR.
func TestPostgresRunServesPages(t *testing.T) {
	db := pgtest.URL(t)
	openPG(t, db) // migrates before run starts
	run := exec.Command(sluiceBinary(t), "run")
	run.Env = environ(db, "SLUICE_HTTP_ADDR=127.0.0.1:0")
	sv := startServing(t, run, "serving /metrics, /healthz and the web pages")
	base := sv.base
	for path, want := range map[string]string{
		"/":                   "<h1>Overview</h1>",
		"/tasks?state=failed": "No failed tasks",
		"/metrics":            "sluice_",
		"/healthz":            "ok",
	} {
		if code, body := httpGet(t, base+path); code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("GET %s: %d; want 200 with %q:\n%.2000s", path, code, want, body)
		}
	}
	sv.stop(t)
}
