package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/cli"
	"github.com/sluicehq/sluice/queue"
)

// TestWebBesideDrains serves the pages with `sluice web` (in-process, with
// a token, so it opens the file for writing) while `sluice drain` child
// processes write the same file round after round, as a timer would start
// them; a reader fetches every page and retries failures all along. Neither
// side may see "database is locked", every page answers 200, and every
// drain finishes.
func TestWebBesideDrains(t *testing.T) {
	bin := sluiceBinary(t)
	path := filepath.Join(t.TempDir(), "q.db")
	addr := freeLoopbackAddr(t)
	base := "http://" + addr
	const tok = "web-token-0123456789"
	env := environ(path, "SLUICE_WEB_TOKEN="+tok, `SLUICE_EXEC_FAIL=["false"]`, "SLUICE_BACKOFF_BASE=1ms", "SLUICE_BACKOFF_MAX=1ms")
	s := storeAt(t, path, &clock{t: time.Now()})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var webErr bytes.Buffer
	done := make(chan error, 1)
	go func() {
		m := &cli.Main{Environ: env, Stdout: &bytes.Buffer{}, Stderr: &webErr}
		done <- m.Run(ctx, []string{"web", "-addr", addr})
	}()
	waitFor(t, "sluice web to answer", func() bool {
		select {
		case err := <-done:
			t.Fatalf("web ended early: %v\n%s", err, webErr.String())
		default:
		}
		code, _ := httpGet(t, base+"/")
		return code == http.StatusOK
	})

	// The reader: every page, and a retry of whatever failed, until stopped.
	var (
		round    atomic.Int64 // the drain round; the reader retries once per round
		stop     atomic.Bool
		wg       sync.WaitGroup
		problems []string
		requests atomic.Int64
	)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	wg.Go(func() {
		pages := []string{"/", "/failures", "/failures?since=all&q=exit", "/tasks?state=succeeded", "/tasks?state=queued",
			"/tasks?state=running", "/tasks/1", "/schedules"}
		retried := int64(-1)
		for i := 0; !stop.Load(); i++ {
			p := pages[i%len(pages)]
			code, body := httpGet(t, base+p)
			requests.Add(1)
			if code != http.StatusOK && !(p == "/tasks/1" && code == http.StatusNotFound) {
				problems = append(problems, fmt.Sprintf("GET %s: %d %s", p, code, firstLine(body)))
			}
			if r := round.Load(); r != retried {
				retried = r
				form := url.Values{"token": {tok}, "group": {""}, "since": {"all"}}
				resp, err := noFollow.PostForm(base+"/retry", form)
				if err != nil {
					problems = append(problems, "POST /retry: "+err.Error())
					continue
				}
				resp.Body.Close()
				// 303: retried; 400: nothing failed; 409: a task moved on in between.
				if c := resp.StatusCode; c != http.StatusSeeOther && c != http.StatusBadRequest && c != http.StatusConflict {
					problems = append(problems, fmt.Sprintf("POST /retry: %d", c))
				}
			}
		}
	})

	for r := range 5 {
		round.Store(int64(r))
		var ps []queue.EnqueueParams
		for i := range 40 {
			job := "echo_test"
			if i%4 == 0 {
				job = "fail"
			}
			ps = append(ps, queue.EnqueueParams{Job: job, MaxAttempts: 2})
		}
		if _, err := s.EnqueueMany(ctx, ps); err != nil {
			t.Fatal(err)
		}
		dctx, dcancel := context.WithTimeout(ctx, time.Minute)
		cmd := exec.CommandContext(dctx, bin, "drain")
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		dcancel()
		if err != nil || strings.Contains(string(out), "locked") {
			t.Fatalf("drain %d: %v\n%s", r, err, out)
		}
	}
	stop.Store(true)
	wg.Wait()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("web: %v\n%s", err, webErr.String())
	}
	if strings.Contains(webErr.String(), "locked") || strings.Contains(webErr.String(), "ERROR") {
		t.Errorf("sluice web logged:\n%s", webErr.String())
	}
	for _, p := range problems {
		t.Error(p)
	}
	t.Logf("%d page requests beside 5 drains", requests.Load())
	if requests.Load() < 5 {
		t.Errorf("only %d page requests ran beside the drains", requests.Load())
	}
	if n := queryInt(t, s.DB().Read, "SELECT count(*) FROM tasks WHERE state = 'queued' AND run_at <= ?",
		time.Now().UnixMilli()); n > 0 {
		// The reader's retries after the last drain queue failures again: fine.
		t.Logf("%d tasks queued again by the last retries", n)
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
