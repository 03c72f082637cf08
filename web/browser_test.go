package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/sluicehq/sluice/jobs"
	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/schedule"
	"github.com/sluicehq/sluice/web"
	"github.com/sluicehq/sluice/worker"
)

const token = "test-token-0123456789"

// hostile is an error text that would run script if printed raw.
const hostile = `bad input <script>window.__xss = 1</script> <img src=x onerror="window.__xss = 2">`

// chromium returns the browser to drive, or skips the test with one line;
// under CI=true a missing browser fails it (.ci/run installs it).
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("SLUICE_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium not found: CI must run the browser tests (.ci/run installs it)")
	}
	t.Skip("chromium not found: skipping the browser tests (install chromium, or set SLUICE_CHROMIUM)")
	return ""
}

// browser starts a headless Chromium with a fresh profile and returns a
// context for chromedp actions.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true), // CI runs as root
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// fixture is a queue file after a drain in which some tasks failed, served
// by the web pages.
type fixture struct {
	store  *queue.Store
	reg    *jobs.Registry
	srv    *httptest.Server
	failed []int64 // failed tasks, oldest first; the last failed with hostile
	fixed  atomic.Bool
}

func newFixture(t *testing.T, tok string) *fixture {
	t.Helper()
	ctx := context.Background()
	store, err := queue.Open(ctx, filepath.Join(t.TempDir(), "q.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	f := &fixture{store: store, reg: jobs.NewRegistry()}
	f.reg.Register("send_mail", func(ctx context.Context, payload json.RawMessage) ([]byte, error) {
		// A measurable duration, for the pages to show.
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if f.fixed.Load() {
			return []byte(`"sent"`), nil
		}
		var p struct{ To string }
		json.Unmarshal(payload, &p)
		if p.To == "hostile" {
			return nil, errors.New(hostile)
		}
		return nil, fmt.Errorf("smtp: connection refused\ndialing %s", p.To)
	})
	f.reg.Register("ok", func(context.Context, json.RawMessage) ([]byte, error) { return []byte(`{"done":true}`), nil })
	var params []queue.EnqueueParams
	for i := range 3 {
		params = append(params, queue.EnqueueParams{Job: "send_mail", Queue: "mail", MaxAttempts: 2,
			Payload: json.RawMessage(fmt.Sprintf(`{"to":"user%d@example.com"}`, i))})
	}
	params = append(params, queue.EnqueueParams{Job: "send_mail", Queue: "mail", MaxAttempts: 1, Payload: json.RawMessage(`{"to":"hostile"}`)})
	for range 5 {
		params = append(params, queue.EnqueueParams{Job: "ok"})
	}
	f.failed, err = store.EnqueueMany(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	f.failed = f.failed[:4]
	if _, err := store.AddSchedule(ctx, queue.ScheduleParams{Name: "nightly", Job: "ok",
		Spec: schedule.Spec{Type: schedule.Cron, Cron: "30 2 * * *", Location: mustZone(t, "Europe/Paris")}}); err != nil {
		t.Fatal(err)
	}
	f.drain(t)
	f.srv = httptest.NewServer(web.Handler(store, web.Opts{Token: tok, DefaultMaxAttempts: 3}))
	t.Cleanup(f.srv.Close)
	return f
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// drain runs every due task; retries come due at once (a nanosecond's
// backoff), so one drain runs them too.
func (f *fixture) drain(t *testing.T) {
	t.Helper()
	w := worker.New(f.store, f.reg, worker.Options{Workers: 2, Backoff: worker.Backoff{Base: time.Nanosecond, Max: time.Nanosecond}})
	if _, err := w.Drain(context.Background(), worker.DrainOpts{}); err != nil {
		t.Fatal(err)
	}
	if due, err := f.store.NextDue(context.Background()); err != nil || !due.IsZero() {
		t.Fatalf("after a drain, next due %v, %v; want nothing queued", due, err)
	}
}

func (f *fixture) state(t *testing.T, id int64) queue.State {
	t.Helper()
	task, err := f.store.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return task.State
}

// screenshot takes a full-page PNG and fails unless it shows a page: a
// blank or broken render has a handful of colours, a page with text,
// tables and colours has many. With SLUICE_WEB_SHOTS set, it keeps the
// picture there for a person to look at.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	colours := map[[4]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, a := img.At(x, y).RGBA()
			colours[[4]uint32{r, g, bl, a}] = true
		}
	}
	if len(colours) < 20 || b.Dx() < 600 || b.Dy() < 300 {
		t.Errorf("screenshot %s: %dx%d with %d colours; want a drawn page", name, b.Dx(), b.Dy(), len(colours))
	}
	if dir := os.Getenv("SLUICE_WEB_SHOTS"); dir != "" {
		os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644)
	}
}

func TestBrowserFailuresAndRetry(t *testing.T) {
	ctx := browser(t)
	f := newFixture(t, token)
	hostileID := f.failed[3]

	// The failures page lists every failed task with its attempts and duration.
	err := chromedp.Do(ctx, chromedp.Navigate(f.srv.URL+"/failures"), chromedp.WaitVisible(chromedp.CSS("table.failures")))
	if err != nil {
		t.Fatal(err)
	}
	rows := evaluate[[]string](t, ctx, `Array.from(document.querySelectorAll("table.failures tbody tr")).map(r => r.innerText)`)
	errText := evaluate[string](t, ctx, fmt.Sprintf(
		`document.querySelector('a[href="/tasks/%d"]').closest("tr").querySelector("td.err").textContent`, hostileID))
	scripts := evaluate[int](t, ctx, `document.scripts.length`)
	xss := evaluate[*int](t, ctx, `window.__xss ?? null`)
	if len(rows) != 4 {
		t.Fatalf("failures page rows = %q; want the 4 failed tasks", rows)
	}
	for _, row := range rows {
		// The hostile task had one attempt, the mail tasks two of two.
		want := "2/2"
		if strings.HasPrefix(strings.TrimSpace(row), fmt.Sprint(hostileID)+"\t") {
			want = "1/1"
		}
		if !strings.Contains(row, "send_mail") || !strings.Contains(row, "\t"+want+"\t") || !strings.Contains(row, " ms") {
			t.Errorf("row %q; want send_mail, attempts %s and a duration in ms", row, want)
		}
	}
	// The error is shown as text: the browser made no element of it.
	if !strings.Contains(errText, "<script>window.__xss = 1</script>") || scripts != 1 || xss != nil {
		t.Errorf("hostile error shown as %q; %d script elements (want live.js only); window.__xss = %v", errText, scripts, xss)
	}
	screenshot(t, ctx, "failures")

	// Retry one task with the token: it is queued again, and a drain runs it.
	target := f.failed[0]
	err = chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#retry input[name="token"]`), token),
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`#retry button[name="one"][value="%d"]`, target))),
		chromedp.WaitVisible(chromedp.CSS(".flash")),
	)
	if err != nil {
		t.Fatal(err)
	}
	flash := evaluate[string](t, ctx, `document.querySelector(".flash").textContent`)
	if !strings.Contains(flash, "1 task") {
		t.Errorf("flash after retry = %q", flash)
	}
	// live.js shows the message once: it takes its code out of the address.
	if loc, err := chromedp.Run(ctx, chromedp.Location()); err != nil || strings.Contains(loc, "done=") {
		t.Errorf("address after the retry: %q, %v; want no done= (live.js removes it)", loc, err)
	}
	if st := f.state(t, target); st != queue.Queued {
		t.Fatalf("task %d after retry: %s; want queued", target, st)
	}
	f.fixed.Store(true)
	f.drain(t)
	if st := f.state(t, target); st != queue.Succeeded {
		t.Errorf("task %d after the second drain: %s; want succeeded", target, st)
	}

	// The other pages render, each checked by a screenshot.
	for _, p := range []struct{ name, path, wait string }{
		{"overview", "/", "section.cards"},
		{"task", fmt.Sprintf("/tasks/%d", target), "ol.timeline"},
		{"task-hostile", fmt.Sprintf("/tasks/%d", hostileID), "pre.err"},
		{"tasks", "/tasks?state=succeeded", "nav.tabs"},
		{"schedules", "/schedules", "table"},
	} {
		if err := chromedp.Do(ctx, chromedp.Navigate(f.srv.URL+p.path), chromedp.WaitVisible(chromedp.CSS(p.wait))); err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		screenshot(t, ctx, p.name)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(fmt.Sprintf("%s/tasks/%d", f.srv.URL, target))); err != nil {
		t.Fatal(err)
	}
	timeline := evaluate[[]string](t, ctx, `Array.from(document.querySelectorAll("ol.timeline li")).map(li => li.innerText)`)
	// Latest first: succeeded, retried by the operator, then the two failures.
	if len(timeline) != 4 || !strings.Contains(timeline[0], "succeeded") || !strings.Contains(timeline[1], "retried") ||
		!strings.Contains(timeline[3], "connection refused") {
		t.Errorf("timeline = %q", timeline)
	}
}

// TestBrowserActionsRefused: without the token, with a wrong one, from
// another site, or with no token configured at all, an action changes nothing.
func TestBrowserActionsRefused(t *testing.T) {
	ctx := browser(t)
	f := newFixture(t, token)
	target := f.failed[1]
	retryForm := url.Values{"one": {fmt.Sprint(target)}}

	// From the page, a retry without the token is refused.
	if err := chromedp.Do(ctx, chromedp.Navigate(f.srv.URL+"/failures"), chromedp.WaitVisible(chromedp.CSS("table.failures"))); err != nil {
		t.Fatal(err)
	}
	status := evaluate[int](t, ctx, fmt.Sprintf(
		`fetch("/retry", {method: "POST", body: new URLSearchParams({one: "%d"})}).then(r => r.status)`, target),
		chromedp.EvalAwaitPromise)
	if status != http.StatusForbidden {
		t.Errorf("retry from the page without a token: %d; want 403", status)
	}

	post := func(srv string, form url.Values, hdr map[string]string) int {
		req, _ := http.NewRequest("POST", srv+"/retry", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	withToken := func(tok string) url.Values {
		v := url.Values{"token": {tok}}
		for k, vs := range retryForm {
			v[k] = vs
		}
		return v
	}
	readOnly := httptest.NewServer(web.Handler(f.store, web.Opts{}))
	defer readOnly.Close()
	for _, tt := range []struct {
		name string
		srv  string
		form url.Values
		hdr  map[string]string
	}{
		{"no token", f.srv.URL, retryForm, nil},
		{"wrong token", f.srv.URL, withToken(token + "x"), nil},
		{"wrong bearer", f.srv.URL, retryForm, map[string]string{"Authorization": "Bearer nope"}},
		{"from another site", f.srv.URL, withToken(token), map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}},
		{"read-only pages", readOnly.URL, withToken(token), nil},
	} {
		if got := post(tt.srv, tt.form, tt.hdr); got != http.StatusForbidden {
			t.Errorf("%s: %d; want 403", tt.name, got)
		}
	}
	if st := f.state(t, target); st != queue.Failed {
		t.Fatalf("task %d after refused retries: %s; want failed", target, st)
	}
	if got := post(f.srv.URL, retryForm, map[string]string{"Authorization": "Bearer " + token}); got != http.StatusSeeOther {
		t.Errorf("retry with the bearer token: %d; want 303", got)
	}
	if st := f.state(t, target); st != queue.Queued {
		t.Errorf("task %d after a retry with the token: %s; want queued", target, st)
	}
}

// noRedirect is a client that returns redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// evaluate runs a script in the page and returns its value.
func evaluate[T any](t *testing.T, ctx context.Context, script string, opts ...chromedp.EvaluateOption) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](script, opts...))
	if err != nil {
		t.Fatalf("evaluate %s: %v", script, err)
	}
	return v
}

// TestBrowserWithoutJavaScript: with scripts off, the pages still list the
// failures and a selection is retried through the plain form.
func TestBrowserWithoutJavaScript(t *testing.T) {
	ctx := browser(t)
	f := newFixture(t, token)
	if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatal(err)
	}
	picked := f.failed[:2]
	err := chromedp.Do(ctx,
		chromedp.Navigate(f.srv.URL+"/failures"),
		chromedp.WaitVisible(chromedp.CSS("table.failures")),
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`#retry input[name="id"][value="%d"]`, picked[0]))),
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`#retry input[name="id"][value="%d"]`, picked[1]))),
		chromedp.SendKeys(chromedp.CSS(`#retry p.actions input[name="token"]`), token),
		chromedp.Click(chromedp.CSS(`#retry p.actions button`)),
		chromedp.WaitVisible(chromedp.CSS(".flash")),
	)
	if err != nil {
		t.Fatal(err)
	}
	// With scripts on, live.js would have taken the message code out of the address.
	if loc, err := chromedp.Run(ctx, chromedp.Location()); err != nil || !strings.Contains(loc, "done=retried") {
		t.Errorf("address after the retry: %q, %v; want done=retried still in it (scripts off)", loc, err)
	}
	for _, id := range picked {
		if st := f.state(t, id); st != queue.Queued {
			t.Errorf("task %d after retrying the selection: %s; want queued", id, st)
		}
	}
	if st := f.state(t, f.failed[2]); st != queue.Failed {
		t.Errorf("task %d, not selected: %s; want failed", f.failed[2], st)
	}
}
