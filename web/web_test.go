package web_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/web"
)

// get returns the status, headers and body of GET path on h.
func get(t *testing.T, h http.Handler, path string) (int, http.Header, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	b, _ := io.ReadAll(rec.Body)
	return rec.Code, rec.Header(), string(b)
}

// TestPages checks every page without a browser: status, the headers that
// keep other sites' script and frames out, escaping, and the read-only mode.
func TestPages(t *testing.T) {
	f := newFixture(t, token)
	readOnly := web.Handler(f.store, web.Opts{})
	withToken := web.Handler(f.store, web.Opts{Token: token})
	for _, tt := range []struct {
		path string
		code int
		want string
	}{
		{"/", 200, "<h1>Overview</h1>"},
		{"/failures", 200, "&lt;script&gt;window.__xss = 1&lt;/script&gt;"},
		{"/failures?job=send_mail&q=REFUSED&since=all", 200, "smtp: connection refused"},
		{"/failures?group=" + url.QueryEscape("smtp: connection refused"), 200, "Showing the group"},
		{"/tasks?state=succeeded", 200, "Tasks: succeeded"},
		{"/tasks?state=lost", 400, "Unknown state: lost"},
		{"/tasks?state=failed&after=x", 400, "Bad page position"},
		{"/tasks/4", 200, "&lt;img src=x onerror="},
		{"/tasks/999", 404, "does not exist"},
		{"/schedules", 200, "Europe/Paris"},
		{"/static/style.css", 200, "font"},
	} {
		t.Run(tt.path, func(t *testing.T) {
			code, hdr, body := get(t, readOnly, tt.path)
			if code != tt.code || !strings.Contains(body, tt.want) {
				t.Errorf("GET %s: %d, want %d with %q in:\n%.2000s", tt.path, code, tt.code, tt.want, body)
			}
			if csp := hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
				t.Errorf("GET %s: Content-Security-Policy %q", tt.path, csp)
			}
			if strings.Contains(body, "<script>window") || strings.Contains(body, `method="post"`) {
				t.Errorf("GET %s (read-only): raw hostile text or an action form in the page", tt.path)
			}
		})
	}
	if _, _, body := get(t, withToken, "/failures"); !strings.Contains(body, `method="post"`) || !strings.Contains(body, `name="token"`) {
		t.Error("with a token, the failures page has no action form asking for it")
	}
}

func TestActionsNeedTokenAndSameOrigin(t *testing.T) {
	f := newFixture(t, token)
	h := web.Handler(f.store, web.Opts{Token: token})
	post := func(form url.Values, hdr map[string]string) (int, string) {
		req := httptest.NewRequest(http.MethodPost, "/retry", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, rec.Header().Get("Location")
	}
	one := url.Values{"one": {"1"}, "back": {"//evil.example/x"}}
	if code, _ := post(one, nil); code != http.StatusForbidden {
		t.Errorf("no token: %d; want 403", code)
	}
	if code, _ := post(one, map[string]string{"Authorization": "Bearer " + token, "Sec-Fetch-Site": "cross-site"}); code != http.StatusForbidden {
		t.Errorf("cross-site with the token: %d; want 403", code)
	}
	code, loc := post(one, map[string]string{"Authorization": "Bearer " + token, "Sec-Fetch-Site": "same-origin"})
	if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/failures?") {
		t.Errorf("retry with the token: %d to %q; want 303 to /failures (never to another site)", code, loc)
	}
	if code, _ := post(one, map[string]string{"Authorization": "Bearer " + token}); code != http.StatusConflict {
		t.Errorf("retry of a task already queued: %d; want 409", code)
	}
}

// TestTaskShowsSupervisedAttempt: an attempt whose history has the peak
// memory and the leftover processes of its supervised command shows both.
func TestTaskShowsSupervisedAttempt(t *testing.T) {
	f := newFixture(t, "")
	id := f.failed[0]
	// The history as a supervised worker writes it (issue 13's fields).
	if _, err := f.store.DB().Write.Exec(`UPDATE tasks SET history = json_set(history, '$[0].peak_rss', 52428800, '$[0].leftover', 2) WHERE id = ?`, id); err != nil {
		t.Fatal(err)
	}
	_, _, body := get(t, web.Handler(f.store, web.Opts{}), fmt.Sprintf("/tasks/%d", id))
	if !strings.Contains(body, "peak memory 50.0 MiB") || !strings.Contains(body, "2 leftover process(es) killed") {
		t.Errorf("task page without the supervised attempt's figures:\n%.3000s", body)
	}
}

// TestOverviewListsWorkers: the overview lists each registered worker with
// its heartbeat and the tasks it holds, and says so when there is none.
func TestOverviewListsWorkers(t *testing.T) {
	f := newFixture(t, "")
	h := web.Handler(f.store, web.Opts{})
	if _, _, body := get(t, h, "/"); !strings.Contains(body, "No worker is registered") {
		t.Errorf("overview without workers does not say so:\n%.3000s", body)
	}

	ctx := context.Background()
	id, err := f.store.Enqueue(ctx, queue.EnqueueParams{Job: "ok"})
	if err != nil {
		t.Fatal(err)
	}
	const worker = "host-a:4242:overview"
	if err := f.store.Register(ctx, queue.WorkerInfo{ID: worker, Host: "host-a", PID: 4242, Version: "test",
		Command: "run", StaleAfter: time.Minute}); err != nil {
		t.Fatal(err)
	}
	res, err := f.store.Exchange(ctx, nil, queue.ClaimParams{Worker: worker, Registered: true, Limit: 1,
		DefaultTimeout: time.Minute, DefaultMaxAttempts: 1})
	if err != nil || len(res.Claimed) != 1 || res.Claimed[0].ID != id {
		t.Fatalf("claim: %+v, %v; want task %d", res.Claimed, err, id)
	}
	_, _, body := get(t, h, "/")
	for _, want := range []string{worker, "host-a", "4242", fmt.Sprintf(`href="/tasks/%d"`, id), "while its worker heartbeats"} {
		if !strings.Contains(body, want) {
			t.Errorf("overview lacks %q:\n%.4000s", want, body)
		}
	}
}
