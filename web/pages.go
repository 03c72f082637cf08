package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/queue"
)

func (s *server) overview(w http.ResponseWriter, r *http.Request) {
	o, err := s.store.Overview(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	workers, err := s.store.Workers(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "overview", view{Title: "Overview", Nav: "overview", Data: struct {
		queue.Overview
		Workers []queue.WorkerInfo
		Max     int
	}{o, workers, s.opts.DefaultMaxAttempts}})
}

// windows are the failures page's choices of how far back to look.
var windows = []struct {
	Name string
	Age  time.Duration // 0: all
}{{"1h", time.Hour}, {"1d", 24 * time.Hour}, {"7d", 7 * 24 * time.Hour}, {"30d", 30 * 24 * time.Hour}, {"all", 0}}

// defaultWindow is the failures page's window unless one is chosen.
const defaultWindow = "7d"

// failureQuery is the failures page's filter, read from the URL.
type failureQuery struct {
	Job, Queue, Text, Group, Window string
	Before                          queue.Cursor
}

func parseFailureQuery(v url.Values) failureQuery {
	q := failureQuery{Job: v.Get("job"), Queue: v.Get("queue"), Text: v.Get("q"), Group: v.Get("group"),
		Window: v.Get("since")}
	if !slices.ContainsFunc(windows, func(w struct {
		Name string
		Age  time.Duration
	}) bool {
		return w.Name == q.Window
	}) {
		q.Window = defaultWindow
	}
	q.Before, _ = parseCursor(v.Get("before"))
	return q
}

// since is the earliest failure time the window takes in; zero for all.
func (q failureQuery) since(now time.Time) time.Time {
	for _, w := range windows {
		if w.Name == q.Window && w.Age > 0 {
			return now.Add(-w.Age)
		}
	}
	return time.Time{}
}

func (q failureQuery) params(now time.Time) queue.FailureParams {
	return queue.FailureParams{Job: q.Job, Queue: q.Queue, Text: q.Text, FirstLine: q.Group,
		Since: q.since(now), Before: q.Before}
}

// url is the failures page for q, continued at before.
func (q failureQuery) url(before queue.Cursor) string {
	v := url.Values{}
	for k, s := range map[string]string{"job": q.Job, "queue": q.Queue, "q": q.Text, "group": q.Group} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if q.Window != defaultWindow {
		v.Set("since", q.Window)
	}
	if !before.IsZero() {
		v.Set("before", formatCursor(before))
	}
	if len(v) == 0 {
		return "/failures"
	}
	return "/failures?" + v.Encode()
}

func (s *server) failures(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	now := s.opts.Now()
	q := parseFailureQuery(r.URL.Query())
	page, err := s.store.Failures(ctx, q.params(now))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	groups, read, err := s.store.FailureGroups(ctx, q.since(now), queue.DefaultGroupSample)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	groups = groups[:min(len(groups), maxGroups)]
	next := ""
	if !page.Next.IsZero() {
		next = q.url(page.Next)
	}
	s.render(w, r, http.StatusOK, "failures", view{Title: "Failures", Nav: "failures", Data: struct {
		Q       failureQuery
		Windows []string
		Page    queue.Page
		Groups  []queue.FailureGroup
		Sampled int // failures read for the groups, when that is all the sample took
		Next    string
		First   string
		Self    string
		Max     int
	}{q, windowNames(), page, groups, sampled(read), next, q.url(queue.Cursor{}), q.url(q.Before), s.opts.DefaultMaxAttempts}})
}

// maxGroups is how many failure groups the page shows, largest first.
const maxGroups = 20

// sampled is read when the groups came from a capped sample of the
// failures, else 0.
func sampled(read int) int {
	if read >= queue.DefaultGroupSample {
		return read
	}
	return 0
}

func windowNames() []string {
	var out []string
	for _, w := range windows {
		out = append(out, w.Name)
	}
	return out
}

func (s *server) tasks(w http.ResponseWriter, r *http.Request) {
	st := queue.State(r.URL.Query().Get("state"))
	if st == "" {
		st = queue.Failed
	}
	if _, err := queue.ParseState(string(st)); err != nil {
		s.refuse(w, r, http.StatusBadRequest, "Unknown state: "+string(st))
		return
	}
	after, err := parseCursor(r.URL.Query().Get("after"))
	if err != nil {
		s.refuse(w, r, http.StatusBadRequest, "Bad page position: "+err.Error())
		return
	}
	page, err := s.store.TasksPage(r.Context(), st, after, 0)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	next := ""
	if !page.Next.IsZero() {
		next = "/tasks?" + url.Values{"state": {string(st)}, "after": {formatCursor(page.Next)}}.Encode()
	}
	s.render(w, r, http.StatusOK, "tasks", view{Title: "Tasks: " + string(st), Nav: "tasks", Data: struct {
		State   queue.State
		States  []queue.State
		Page    queue.Page
		Next    string
		IsFirst bool
		Max     int
	}{st, queue.States, page, next, after.IsZero(), s.opts.DefaultMaxAttempts}})
}

func (s *server) task(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		s.refuse(w, r, http.StatusNotFound, "No such task.")
		return
	}
	t, err := s.store.Get(r.Context(), id)
	if errors.Is(err, queue.ErrNotFound) {
		s.refuse(w, r, http.StatusNotFound, fmt.Sprintf("Task %d does not exist (it may have been removed by retention).", id))
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	history := slices.Clone(t.History)
	slices.Reverse(history) // latest attempt first
	s.render(w, r, http.StatusOK, "task", view{Title: fmt.Sprintf("Task %d", id), Nav: "tasks", Data: struct {
		queue.Task
		Attempts []queue.Attempt
		Max      int
	}{t, history, s.opts.DefaultMaxAttempts}})
}

func (s *server) schedules(w http.ResponseWriter, r *http.Request) {
	list, err := s.store.ListSchedules(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "schedules", view{Title: "Schedules", Nav: "schedules", Data: list})
}

// formatCursor writes c for a URL: priority.key.id.
func formatCursor(c queue.Cursor) string {
	return fmt.Sprintf("%d.%d.%d", c.Priority, c.Key, c.ID)
}

func parseCursor(s string) (queue.Cursor, error) {
	if s == "" {
		return queue.Cursor{}, nil
	}
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return queue.Cursor{}, fmt.Errorf("want priority.key.id, got %q", s)
	}
	var n [3]int64
	for i, p := range parts {
		v, err := strconv.ParseInt(p, 10, 64)
		if err != nil {
			return queue.Cursor{}, fmt.Errorf("want priority.key.id, got %q", s)
		}
		n[i] = v
	}
	return queue.Cursor{Priority: int(n[0]), Key: n[1], ID: n[2]}, nil
}
