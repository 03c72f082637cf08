package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/pgtest"
	"github.com/sluicehq/sluice/jobs"
	"github.com/sluicehq/sluice/pgqueue"
	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/schedule"
	"github.com/sluicehq/sluice/web"
	"github.com/sluicehq/sluice/worker"
)

// TestPagesOnPostgres serves the pages off the PostgreSQL store, over real
// HTTP: the overview, the failures with a retry of their group, every
// succeeded task across pages, and a schedule's "run now".
func TestPagesOnPostgres(t *testing.T) {
	ctx := context.Background()
	store, err := pgqueue.Open(ctx, pgtest.URL(t), pgqueue.NewOpts{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	reg := jobs.NewRegistry()
	reg.Register("send_mail", func(context.Context, json.RawMessage) ([]byte, error) {
		return nil, errors.New("smtp: connection refused\ndialing mx")
	})
	reg.Register("ok", func(context.Context, json.RawMessage) ([]byte, error) { return []byte(`{}`), nil })
	const succeeded = queue.DefaultPageSize + 10 // two pages
	var ps []queue.EnqueueParams
	for range 3 {
		ps = append(ps, queue.EnqueueParams{Job: "send_mail", Queue: "mail", MaxAttempts: 1})
	}
	for range succeeded {
		ps = append(ps, queue.EnqueueParams{Job: "ok"})
	}
	enqueued, err := store.EnqueueMany(ctx, ps)
	if err != nil {
		t.Fatal(err)
	}
	failed := enqueued[:3]
	if _, err := store.AddSchedule(ctx, queue.ScheduleParams{Name: "nightly", Job: "ok",
		Spec: schedule.Spec{Type: schedule.Cron, Cron: "30 2 * * *", Location: time.UTC}}); err != nil {
		t.Fatal(err)
	}
	if _, err := worker.New(store, reg, worker.Options{Workers: 2}).Drain(ctx, worker.DrainOpts{}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(web.Handler(store, web.Opts{Token: token}))
	t.Cleanup(srv.Close)

	page := func(path string) string {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d\n%.2000s", path, resp.StatusCode, b)
		}
		return string(b)
	}
	for path, want := range map[string][]string{
		"/":                   {"<h1>Overview</h1>", ">mail<", ">default<"},
		"/failures":           {"smtp: connection refused", "Retry the group"},
		"/failures?job=ok":    {"No failed tasks match."},
		"/tasks?state=failed": {fmt.Sprintf(`href="/tasks/%d"`, failed[0])},
		"/schedules":          {"nightly"},
	} {
		if body := page(path); !containsAll(body, want) {
			t.Errorf("GET %s lacks one of %q:\n%.3000s", path, want, body)
		}
	}

	t.Run("tasks by pages", func(t *testing.T) {
		var got []int64
		next := "/tasks?state=succeeded"
		for pages := 0; next != ""; pages++ {
			if pages > 3 {
				t.Fatal("pages never end")
			}
			body := page(next)
			got = append(got, linkedTasks(body)...)
			next = ""
			if m := nextLink.FindStringSubmatch(body); m != nil {
				next = html.UnescapeString(m[1])
			}
		}
		want := slices.Clone(enqueued[3:])
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("succeeded tasks over the pages = %v; want each of %v once", got, want)
		}
	})

	post := func(path string, form url.Values) *url.URL {
		t.Helper()
		form.Set("token", token)
		noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := noFollow.PostForm(srv.URL+path, form)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("POST %s: %d; want 303\n%.2000s", path, resp.StatusCode, b)
		}
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		return loc
	}

	t.Run("retry a failure group", func(t *testing.T) {
		loc := post("/retry", url.Values{"group": {"smtp: connection refused"}, "since": {"all"}})
		if loc.Path != "/failures" || loc.Query().Get("n") != "3" {
			t.Errorf("retry went to %s; want /failures with 3 retried", loc)
		}
		for _, id := range failed {
			if task, err := store.Get(ctx, id); err != nil || task.State != queue.Queued {
				t.Errorf("task %d after the retry: %s, %v; want queued", id, task.State, err)
			}
		}
		if body := page("/failures"); strings.Contains(body, "smtp: connection refused") {
			t.Error("the failures page still lists the retried failures")
		}
	})

	t.Run("run a schedule now", func(t *testing.T) {
		loc := post("/schedules/nightly/run", url.Values{})
		id, err := strconv.ParseInt(loc.Query().Get("n"), 10, 64)
		if err != nil || loc.Path != "/schedules" {
			t.Fatalf("run now went to %s; want /schedules with the task's id", loc)
		}
		task, err := store.Get(ctx, id)
		if err != nil || task.State != queue.Queued || task.Job != "ok" || task.ScheduleID == 0 {
			t.Errorf("task %d of run now = %+v, %v; want a queued ok from the schedule", id, task, err)
		}
		if body := page("/tasks?state=queued"); !strings.Contains(body, fmt.Sprintf(`href="/tasks/%d"`, id)) {
			t.Errorf("the queued tasks do not list task %d:\n%.3000s", id, body)
		}
	})
}

var (
	taskLink = regexp.MustCompile(`<td><a href="/tasks/(\d+)">`)
	nextLink = regexp.MustCompile(`<a href="([^"]+)" rel="next">`)
)

// linkedTasks returns the ids of the task rows of a listing.
func linkedTasks(body string) []int64 {
	var ids []int64
	for _, m := range taskLink.FindAllStringSubmatch(body, -1) {
		id, _ := strconv.ParseInt(m[1], 10, 64)
		ids = append(ids, id)
	}
	return ids
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
