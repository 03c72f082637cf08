package queuetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice/queue"
)

// The operator's reads: the web pages' failures, failure groups, pages of
// tasks by state and the overview.

// failEach enqueues n tasks of job and fails each with errText(i), one
// second of the store's clock apart. It returns their ids, oldest first.
func failEach(tb testing.TB, s queue.Backend, clk *clock, job string, n int, errText func(int) string) []int64 {
	tb.Helper()
	var out []int64
	for i := range n {
		id := mustEnqueue(tb, s, queue.EnqueueParams{Job: job, MaxAttempts: 1})
		exchange(tb, s, nil, params)
		clk.Advance(time.Second)
		exchange(tb, s, []queue.Outcome{{ID: id, Attempt: 1, Kind: queue.Fail, Error: errText(i),
			StartedAt: clk.Now().Add(-time.Second), Duration: 250 * time.Millisecond}}, queue.ClaimParams{Worker: params.Worker})
		out = append(out, id)
	}
	return out
}

// failurePages follows Failures' pages from p to the end and returns the
// ids, in order.
func failurePages(t *testing.T, s queue.Backend, p queue.FailureParams) []int64 {
	t.Helper()
	var got []int64
	for range 10 {
		page, err := s.Failures(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range page.Tasks {
			got = append(got, task.ID)
			if task.Payload != nil || len(task.History) != 0 {
				t.Errorf("task %d: a page carries its payload or history", task.ID)
			}
		}
		if page.Next.IsZero() {
			return got
		}
		p.Before = page.Next
	}
	t.Fatal("pages never end")
	return nil
}

func testFailures(t *testing.T, h *Harness) {
	clk := newClock()
	s := h.open(t, clk)
	ctx := context.Background()
	mail := failEach(t, s, clk, "mail", 5, func(i int) string { return fmt.Sprintf("smtp refused\nattempt %d", i) })
	feed := failEach(t, s, clk, "feed", 2, func(int) string { return "Timeout reading feed" })

	t.Run("pages, newest first", func(t *testing.T) {
		want := slices.Concat(mail, feed)
		slices.Reverse(want)
		if got := failurePages(t, s, queue.FailureParams{Limit: 3}); !slices.Equal(got, want) {
			t.Errorf("failures by page = %v; want %v (newest first, each once)", got, want)
		}
		p, err := s.Failures(ctx, queue.FailureParams{})
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range p.Tasks {
			if task.Duration != 250*time.Millisecond || task.Attempt != 1 || task.MaxAttempts != 1 {
				t.Errorf("task %d: duration %v, attempt %d/%d; want 250ms, 1/1", task.ID, task.Duration, task.Attempt, task.MaxAttempts)
			}
		}
		p, err = s.Failures(ctx, queue.FailureParams{Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		if task := p.Tasks[0]; task.Error != "Timeout reading feed" || task.Job != "feed" {
			t.Errorf("newest failure = %+v; want feed's", task)
		}
		if want := (queue.Cursor{Key: p.Tasks[0].FinishedAt.UnixMilli(), ID: feed[1]}); p.Next != want {
			t.Errorf("next = %+v; want %+v (finish time and id)", p.Next, want)
		}
	})

	t.Run("same finish time", func(t *testing.T) {
		// Ties on the finish time still page by id, each task once.
		s := h.open(t, newClock())
		var want []int64
		for range 5 {
			want = append(want, mustEnqueue(t, s, queue.EnqueueParams{Job: "j"}))
		}
		h.sql(t, s, "UPDATE tasks SET state = 'failed', finished_at = 1000, error = 'x'")
		slices.Reverse(want)
		if got := failurePages(t, s, queue.FailureParams{Limit: 2}); !slices.Equal(got, want) {
			t.Errorf("failures by page = %v; want %v", got, want)
		}
	})

	t.Run("a search reads at most Scan failures a page", func(t *testing.T) {
		// The 3 newest are the feed failures and one mail; the next 3 mail only.
		p, err := s.Failures(ctx, queue.FailureParams{Job: "mail", Scan: 3})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Tasks) != 1 || p.Searched != 3 || p.Next.IsZero() {
			t.Errorf("first search page: %d tasks, searched %d, next %+v; want 1 of 3 read, and a next page",
				len(p.Tasks), p.Searched, p.Next)
		}
		want := slices.Clone(mail)
		slices.Reverse(want)
		if got := failurePages(t, s, queue.FailureParams{Job: "mail", Scan: 3}); !slices.Equal(got, want) {
			t.Errorf("searched pages found %v; want every mail failure once, newest first: %v", got, want)
		}
	})

	for _, tt := range []struct {
		name string
		p    queue.FailureParams
		want int
	}{
		{"job", queue.FailureParams{Job: "feed"}, 2},
		{"text, any case", queue.FailureParams{Text: "timeout"}, 2},
		{"text in a later line", queue.FailureParams{Text: "attempt 3"}, 1},
		{"text is not a pattern", queue.FailureParams{Text: "s_tp%"}, 0},
		{"text with a backslash", queue.FailureParams{Text: `smtp\`}, 0},
		{"queue", queue.FailureParams{Queue: "other"}, 0},
		{"queue default", queue.FailureParams{Queue: queue.DefaultQueue, Job: "mail"}, 5},
		{"first line", queue.FailureParams{FirstLine: "smtp refused"}, 5},
		{"first line is whole", queue.FailureParams{FirstLine: "smtp"}, 0},
		{"since", queue.FailureParams{Since: clk.Now().Add(-1500 * time.Millisecond)}, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := s.Failures(ctx, tt.p)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Tasks) != tt.want {
				t.Errorf("got %d tasks; want %d", len(p.Tasks), tt.want)
			}
			ids, err := s.FailedIDs(ctx, tt.p)
			if err != nil {
				t.Fatal(err)
			}
			if len(ids) != tt.want {
				t.Errorf("FailedIDs: %v; want %d", ids, tt.want)
			}
		})
	}

	t.Run("FailedIDs ignores the page", func(t *testing.T) {
		ids, err := s.FailedIDs(ctx, queue.FailureParams{FirstLine: "smtp refused", Limit: 1,
			Before: queue.Cursor{Key: 1, ID: 1}})
		if err != nil {
			t.Fatal(err)
		}
		want := slices.Clone(mail)
		slices.Reverse(want)
		if !slices.Equal(ids, want) {
			t.Errorf("ids of the smtp group = %v; want %v", ids, want)
		}
	})
}

func testFailureGroups(t *testing.T, h *Harness) {
	clk := newClock()
	s := h.open(t, clk)
	ctx := context.Background()
	failEach(t, s, clk, "mail", 5, func(i int) string { return fmt.Sprintf("smtp refused\nattempt %d", i) })
	failEach(t, s, clk, "feed", 2, func(int) string { return "Timeout reading feed" })
	failEach(t, s, clk, "other", 2, func(int) string { return "Timeout reading feed\nelsewhere" })
	last := clk.Now()

	groups, read, err := s.FailureGroups(ctx, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []queue.FailureGroup{
		{Error: "smtp refused", Count: 5, Jobs: 1, Last: last.Add(-4 * time.Second)},
		{Error: "Timeout reading feed", Count: 4, Jobs: 2, Last: last},
	}
	if !slices.Equal(groups, want) || read != 9 {
		t.Errorf("groups = %+v of %d; want %+v of 9", groups, read, want)
	}
	// A sample of the latest 3: two timeouts of other, one of feed.
	groups, read, err = s.FailureGroups(ctx, time.Time{}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 1 || groups[0].Count != 3 || groups[0].Jobs != 2 || read != 3 {
		t.Errorf("groups of the latest 3 = %+v of %d; want the timeout ×3 over 2 jobs", groups, read)
	}
	// Since: the last 4 seconds hold the timeouts only.
	groups, read, err = s.FailureGroups(ctx, last.Add(-3*time.Second), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 1 || groups[0].Count != 4 || read != 4 {
		t.Errorf("groups since = %+v of %d; want the timeout ×4", groups, read)
	}
	// Equal counts: by error.
	failEach(t, s, clk, "mail", 1, func(int) string { return "another" })
	failEach(t, s, clk, "mail", 1, func(int) string { return "a first" })
	groups, _, err = s.FailureGroups(ctx, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, g := range groups {
		order = append(order, g.Error)
	}
	if wantOrder := []string{"smtp refused", "Timeout reading feed", "a first", "another"}; !slices.Equal(order, wantOrder) {
		t.Errorf("groups in order %q; want %q (largest first, then by error)", order, wantOrder)
	}
}

// allPages follows TasksPage in state st, size pages, to the end.
func allPages(t *testing.T, s queue.Backend, st queue.State, size int) []int64 {
	t.Helper()
	var got []int64
	var cur queue.Cursor
	for range 20 {
		p, err := s.TasksPage(context.Background(), st, cur, size)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Tasks) > size {
			t.Fatalf("%s: a page of %d tasks; want at most %d", st, len(p.Tasks), size)
		}
		for _, task := range p.Tasks {
			if task.State != st || task.Payload != nil {
				t.Errorf("%s page: task %d %s with payload %q", st, task.ID, task.State, task.Payload)
			}
			got = append(got, task.ID)
		}
		if cur = p.Next; cur.IsZero() {
			return got
		}
	}
	t.Fatalf("%s: pages never end", st)
	return nil
}

func testTasksPage(t *testing.T, h *Harness) {
	clk := newClock()
	s := h.open(t, clk)
	ctx := context.Background()
	var queued []int64
	for i := range 7 {
		queued = append(queued, mustEnqueue(t, s, queue.EnqueueParams{Job: "j", Priority: i % 2, RunAt: clk.Now().Add(time.Hour)}))
	}
	// Two more at the same due time and priority: the claim takes the lower id first.
	tie := clk.Now().Add(2 * time.Hour)
	queued = append(queued, mustEnqueue(t, s, queue.EnqueueParams{Job: "j", RunAt: tie}),
		mustEnqueue(t, s, queue.EnqueueParams{Job: "j", RunAt: tie}))
	failed := failEach(t, s, clk, "f", 4, func(int) string { return "x" })
	var running []int64
	for i := range 3 {
		running = append(running, mustEnqueue(t, s, queue.EnqueueParams{Job: "r", Timeout: time.Duration(3-i) * time.Minute}))
	}
	if got := exchange(t, s, nil, params).Claimed; len(got) != 3 {
		t.Fatalf("claimed %v; want the 3 due tasks", ids(got))
	}

	wantQueued := []int64{queued[1], queued[3], queued[5], queued[0], queued[2], queued[4], queued[6], queued[7], queued[8]}
	if got := allPages(t, s, queue.Queued, 2); !slices.Equal(got, wantQueued) {
		t.Errorf("queued = %v; want %v (claim order: priority, then due time, then id)", got, wantQueued)
	}
	slices.Reverse(running) // the shortest timeout's lease ends first
	if got := allPages(t, s, queue.Running, 2); !slices.Equal(got, running) {
		t.Errorf("running = %v; want %v (lease expiry first)", got, running)
	}
	slices.Reverse(failed)
	if got := allPages(t, s, queue.Failed, 3); !slices.Equal(got, failed) {
		t.Errorf("failed = %v; want %v (newest first)", got, failed)
	}
	if got := allPages(t, s, queue.Succeeded, 2); len(got) != 0 {
		t.Errorf("succeeded = %v; want none", got)
	}
	// Tasks that finished in the same millisecond page by id.
	var tied []int64
	for range 5 {
		tied = append(tied, h.sql(t, s, "INSERT INTO tasks (job, state, finished_at) VALUES ('t', 'succeeded', 1000) RETURNING id"))
	}
	slices.Reverse(tied)
	if got := allPages(t, s, queue.Succeeded, 2); !slices.Equal(got, tied) {
		t.Errorf("succeeded in one millisecond = %v; want %v (newest id first, each once)", got, tied)
	}
	p, err := s.TasksPage(ctx, queue.Queued, queue.Cursor{}, 0)
	if err != nil || len(p.Tasks) != len(wantQueued) || !p.Next.IsZero() {
		t.Errorf("default page: %d tasks, next %+v, %v; want all %d and no next", len(p.Tasks), p.Next, err, len(wantQueued))
	}
	p, err = s.TasksPage(ctx, queue.Failed, queue.Cursor{}, 1)
	if err != nil || len(p.Tasks) != 1 {
		t.Fatalf("a page of 1: %+v, %v", p, err)
	}
	if want := (queue.Cursor{Key: p.Tasks[0].FinishedAt.UnixMilli(), ID: failed[0]}); p.Next != want {
		t.Errorf("next = %+v; want %+v", p.Next, want)
	}
	if _, err := s.TasksPage(ctx, "lost", queue.Cursor{}, 0); !errors.Is(err, queue.ErrInvalid) {
		t.Errorf("an unknown state: %v; want ErrInvalid", err)
	}
}

func testOverview(t *testing.T, h *Harness) {
	clk := newClock()
	s := h.open(t, clk)
	ctx := context.Background()
	failEach(t, s, clk, "f", 3, func(int) string { return "x" })
	mustEnqueue(t, s, queue.EnqueueParams{Job: "slow", Queue: "b"})
	exchange(t, s, nil, params) // claims it: running
	mustEnqueue(t, s, queue.EnqueueParams{Job: "waiting", Queue: "b"})
	mustEnqueue(t, s, queue.EnqueueParams{Job: "later", Queue: "b", RunAt: clk.Now().Add(time.Hour)})
	// A failure of yesterday counts for the day only; one of last week not at all.
	h.sql(t, s, fmt.Sprintf(`INSERT INTO tasks (job, queue, state, finished_at, error) VALUES
		('old', 'a', 'failed', %d, 'x'), ('older', 'c', 'failed', %d, 'x')`,
		clk.Now().Add(-2*time.Hour).UnixMilli(), clk.Now().Add(-7*24*time.Hour).UnixMilli()))
	clk.Advance(time.Minute)
	o, err := s.Overview(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !o.Now.Equal(clk.Now()) {
		t.Errorf("now = %v; want the store's clock %v", o.Now, clk.Now())
	}
	var names []string
	for _, q := range o.Queues {
		names = append(names, q.Queue)
	}
	if want := []string{"b", queue.DefaultQueue}; !slices.Equal(names, want) {
		t.Fatalf("queues = %q; want %q (a backlog or a task finished in the hour, by name)", names, want)
	}
	if b := o.Queues[0]; b.Due != 1 || b.Scheduled != 1 || b.Running != 1 || b.Wait != time.Minute {
		t.Errorf("queue b = %+v; want 1 due waiting 1m, 1 later, 1 running", b)
	}
	if d := o.Queues[1]; d.LastHour[queue.Failed] != 3 || len(d.LastHour) != 1 || d.Due != 0 {
		t.Errorf("default queue = %+v; want 3 failed in the last hour, nothing else", d)
	}
	if o.FailedLastHour != 3 || o.FailedLastDay != 4 || o.DoneLastHour() != 3 {
		t.Errorf("failed %d/%d, done %d; want 3 in the hour, 4 in the day, 3 done", o.FailedLastHour, o.FailedLastDay, o.DoneLastHour())
	}
	// The failures finished 62, 61 and 60 seconds before now: minutes 58, 58, 59 of the hour.
	if o.DonePerMinute[58] != 2 || o.DonePerMinute[59] != 1 {
		t.Errorf("done per minute = %v; want 2 in the minute before the last, 1 in the last", o.DonePerMinute)
	}
	if len(o.Running) != 1 || o.Running[0].Worker != params.Worker || o.Running[0].Job != "slow" || o.Running[0].Payload != nil {
		t.Errorf("running = %+v; want the slow task on %s, without payload", o.Running, params.Worker)
	}
}
