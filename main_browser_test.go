package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/proctest"
	"github.com/sluicehq/sluice/queue"
)

// chromium is the browser the drivers launch: Debian's, never a download.
const chromium = "/usr/bin/chromium"

// browserJobs returns the SLUICE_EXEC_* variables of the Playwright and the
// Puppeteer job in testdata/browser, or skips the test when Chromium, Node
// or the drivers are missing. Under CI=true it fails instead: CI installs
// them (.ci/run), so a skip there would hide a broken set-up.
func browserJobs(t *testing.T) []string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("testdata", "browser"))
	if err != nil {
		t.Fatal(err)
	}
	var missing string
	if _, err := os.Stat(chromium); err != nil {
		missing = chromium + " (apt-get install chromium)"
	} else if _, err := exec.LookPath("node"); err != nil {
		missing = "node (apt-get install nodejs)"
	} else {
		for _, m := range []string{"playwright-core", "puppeteer-core"} {
			if _, err := os.Stat(filepath.Join(dir, "node_modules", m)); err != nil {
				missing = m + " (npm ci in testdata/browser)"
			}
		}
	}
	if missing != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("real-browser test cannot run: %s is missing, and CI must run it", missing)
		}
		t.Skipf("skipped: %s is missing (.ci/run installs it)", missing)
	}
	return []string{
		`SLUICE_EXEC_PLAYWRIGHT=["node","` + filepath.Join(dir, "playwright.js") + `"]`,
		`SLUICE_EXEC_PUPPETEER=["node","` + filepath.Join(dir, "puppeteer.js") + `"]`,
	}
}

// pages serves a quick page and one that never finishes loading.
func pages(t *testing.T) *httptest.Server {
	closing := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/quick", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "<!doctype html><title>quick</title><p>done")
	})
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-closing:
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { close(closing); srv.Close() })
	return srv
}

// TestBrowserJobs runs Playwright and Puppeteer jobs against real Chromium.
// Jobs whose event loop blocks on a page that never loads are killed at the
// timeout, retried and failed, and no browser process of an attempt is left
// once the attempt is recorded; quick pages succeed with their result
// stored. Then a worker is SIGKILLed with browsers running: they die too.
func TestBrowserJobs(t *testing.T) {
	execEnv := browserJobs(t)
	srv := pages(t)
	path := filepath.Join(t.TempDir(), "sluice.db")
	s := openStore(t, path)
	ctx := context.Background()
	marker := fmt.Sprintf("PROCTEST_MARKER=browser-%d", time.Now().UnixNano())
	const timeout, grace = 20 * time.Second, time.Second
	env := append(execEnv, marker, "SLUICE_WORKERS=4", "SLUICE_KILL_GRACE="+grace.String(),
		"SLUICE_BACKOFF_BASE=100ms", "SLUICE_TIMEOUT=60s", "SLUICE_RETRY=90s")

	enqueue := func(job, page string, timeout time.Duration, attempts int) int64 {
		t.Helper()
		id, err := s.Enqueue(ctx, queue.EnqueueParams{Job: job, Timeout: timeout, MaxAttempts: attempts,
			Payload: json.RawMessage(fmt.Sprintf(`{"url":%q,"block":%v}`, srv.URL+"/"+page, page == "hang"))})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	hanging := []int64{enqueue("playwright", "hang", timeout, 2), enqueue("puppeteer", "hang", timeout, 2)}
	quick := []int64{enqueue("playwright", "quick", 0, 1), enqueue("puppeteer", "quick", 0, 1)}

	run := sluice(t, path, env, "run")
	var stderr syncBuffer
	run.Stderr = &stderr
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	defer run.Process.Kill()
	checked := map[string]bool{}
	waitFor(t, "every task to finish", 3*timeout, func() bool {
		// Each attempt recorded leaves no process behind.
		for _, id := range hanging {
			task, err := s.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range task.History {
				key := fmt.Sprintf("%d/%d", id, a.Attempt)
				if checked[key] {
					continue
				}
				checked[key] = true
				if left := proctest.Marked(marker, "SLUICE_TASK_ID="+strconv.FormatInt(id, 10),
					"SLUICE_TASK_ATTEMPT="+strconv.Itoa(a.Attempt)); len(left) > 0 {
					t.Errorf("task %d attempt %d is recorded, but its processes are alive: %v", id, a.Attempt, proctest.Describe(left))
				}
			}
		}
		c, err := s.Counts(ctx)
		return err == nil && c[queue.Queued]+c[queue.Running] == 0
	})
	run.Process.Signal(syscall.SIGTERM)
	if err := waitExit(t, run, 10*time.Second); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	for _, id := range hanging {
		task, _ := s.Get(ctx, id)
		if task.State != queue.Failed || len(task.History) != 2 {
			t.Fatalf("hanging %s task %d: %s with %d attempts; want failed after 2", task.Job, id, task.State, len(task.History))
		}
		for _, a := range task.History {
			t.Logf("%s attempt %d: %s, %d processes left over, peak %d MiB", task.Job, a.Attempt, a.Outcome, *a.Leftover, a.PeakRSS>>20)
			if a.Outcome != "timeout" || a.Leftover == nil || a.PeakRSS < 50<<20 {
				t.Errorf("%s attempt %d: %s, leftover %v, peak %d MiB; want a timeout with a browser's memory measured",
					task.Job, a.Attempt, a.Outcome, a.Leftover, a.PeakRSS>>20)
			}
		}
	}
	for _, id := range quick {
		task, _ := s.Get(ctx, id)
		if task.State != queue.Succeeded || string(task.Result) != `{"title":"quick"}` {
			t.Errorf("quick %s task %d: %s, result %s, error %s", task.Job, id, task.State, task.Result, task.Error)
		}
	}
	proctest.WaitMarked(t, marker, 0, time.Now().Add(grace+time.Second))

	t.Run("worker SIGKILLed", func(t *testing.T) {
		enqueue("puppeteer", "hang", timeout, 1)
		enqueue("playwright", "hang", timeout, 1)
		run := sluice(t, path, env, "run")
		if err := run.Start(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "both browsers", 60*time.Second, func() bool {
			n := 0
			for _, pid := range proctest.Marked(marker) {
				if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); string(b) == "chromium\n" {
					n++
				}
			}
			return n >= 4
		})
		run.Process.Signal(syscall.SIGKILL)
		run.Wait()
		proctest.WaitMarked(t, marker, 0, time.Now().Add(grace+time.Second))
	})
}
