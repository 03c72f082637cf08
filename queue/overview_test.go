package queue_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice/queue"
)

// failTasks enqueues n tasks of job and fails each with errText(i), one
// second of the store's clock apart. It returns their ids, oldest first.
func failTasks(tb testing.TB, s *queue.Store, clk *clock, job string, n int, errText func(int) string) []int64 {
	tb.Helper()
	var ids []int64
	for i := range n {
		id := mustEnqueue(tb, s, queue.EnqueueParams{Job: job, MaxAttempts: 1})
		exchange(tb, s, nil, params)
		clk.Advance(time.Second)
		exchange(tb, s, []queue.Outcome{{ID: id, Attempt: 1, Kind: queue.Fail, Error: errText(i),
			StartedAt: clk.Now().Add(-time.Second), Duration: 250 * time.Millisecond}}, queue.ClaimParams{Worker: "w1"})
		ids = append(ids, id)
	}
	return ids
}

func TestFailuresPagesAndGroups(t *testing.T) {
	clk := newClock()
	s := mustStore(t, clk)
	ctx := context.Background()
	a := failTasks(t, s, clk, "mail", 5, func(i int) string { return fmt.Sprintf("smtp refused\nattempt %d", i) })
	b := failTasks(t, s, clk, "feed", 2, func(int) string { return "Timeout reading feed" })

	var got []int64
	var cur queue.Cursor
	for pages := 0; ; pages++ {
		p, err := s.Failures(ctx, queue.FailureParams{Before: cur, Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range p.Tasks {
			got = append(got, task.ID)
			if task.Duration != 250*time.Millisecond || task.Attempt != 1 || task.MaxAttempts != 1 {
				t.Errorf("task %d: duration %v, attempt %d/%d", task.ID, task.Duration, task.Attempt, task.MaxAttempts)
			}
		}
		if p.Next.IsZero() {
			break
		}
		cur = p.Next
		if pages > 5 {
			t.Fatal("pages never end")
		}
	}
	want := slices.Concat(a, b)
	slices.Reverse(want)
	if !slices.Equal(got, want) {
		t.Errorf("failures by page = %v; want %v (newest first, each once)", got, want)
	}

	groups, read, err := s.FailureGroups(ctx, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 2 || groups[0].Error != "smtp refused" || groups[0].Count != 5 || groups[1].Count != 2 || read != 7 {
		t.Errorf("groups = %+v of %d; want smtp refused ×5, then the timeout ×2, of 7", groups, read)
	}
	// A sample of the latest 3: the two timeouts and the newest smtp failure.
	groups, read, err = s.FailureGroups(ctx, time.Time{}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 2 || groups[0].Count != 2 || groups[1].Count != 1 || read != 3 {
		t.Errorf("groups of the latest 3 = %+v of %d; want the timeout ×2, smtp ×1", groups, read)
	}
	ids, err := s.FailedIDs(ctx, queue.FailureParams{FirstLine: "smtp refused"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 5 {
		t.Errorf("ids of the smtp group = %v; want 5", ids)
	}

	// A filtered search reads at most Scan failures a page, then says so
	// and continues after the last one read: the 3 newest are the feed
	// failures and one smtp, the next 3 smtp only.
	p, err := s.Failures(ctx, queue.FailureParams{Job: "mail", Scan: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Tasks) != 1 || p.Searched != 3 || p.Next.IsZero() {
		t.Errorf("first search page: %d tasks, searched %d, next %+v; want 1 of 3 read, and a next page", len(p.Tasks), p.Searched, p.Next)
	}
	var found []int64
	for pages := 0; ; pages++ {
		for _, task := range p.Tasks {
			found = append(found, task.ID)
		}
		if p.Next.IsZero() || pages > 5 {
			break
		}
		if p, err = s.Failures(ctx, queue.FailureParams{Job: "mail", Scan: 3, Before: p.Next}); err != nil {
			t.Fatal(err)
		}
	}
	wantMail := slices.Clone(a)
	slices.Reverse(wantMail)
	if !slices.Equal(found, wantMail) {
		t.Errorf("searched pages found %v; want every mail failure once, newest first: %v", found, wantMail)
	}

	for _, tt := range []struct {
		name string
		p    queue.FailureParams
		want int
	}{
		{"job", queue.FailureParams{Job: "feed"}, 2},
		{"text, any case", queue.FailureParams{Text: "timeout"}, 2},
		{"text in a later line", queue.FailureParams{Text: "attempt 3"}, 1},
		{"text is not a pattern", queue.FailureParams{Text: "s_tp%"}, 0},
		{"queue", queue.FailureParams{Queue: "other"}, 0},
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
		})
	}
}

func TestTasksPage(t *testing.T) {
	clk := newClock()
	s := mustStore(t, clk)
	ctx := context.Background()
	var queued []int64
	for i := range 7 {
		queued = append(queued, mustEnqueue(t, s, queue.EnqueueParams{Job: "j", Priority: i % 2, RunAt: clk.Now().Add(time.Hour)}))
	}
	failed := failTasks(t, s, clk, "f", 4, func(int) string { return "x" })

	all := func(st queue.State) []int64 {
		var ids []int64
		var cur queue.Cursor
		for range 10 {
			p, err := s.TasksPage(ctx, st, cur, 2)
			if err != nil {
				t.Fatal(err)
			}
			for _, task := range p.Tasks {
				ids = append(ids, task.ID)
			}
			if cur = p.Next; cur.IsZero() {
				return ids
			}
		}
		t.Fatalf("%s: pages never end", st)
		return nil
	}
	wantQueued := []int64{queued[1], queued[3], queued[5], queued[0], queued[2], queued[4], queued[6]}
	if got := all(queue.Queued); !slices.Equal(got, wantQueued) {
		t.Errorf("queued = %v; want %v (claim order: priority, then due time)", got, wantQueued)
	}
	slices.Reverse(failed)
	if got := all(queue.Failed); !slices.Equal(got, failed) {
		t.Errorf("failed = %v; want %v", got, failed)
	}
	if got := all(queue.Succeeded); len(got) != 0 {
		t.Errorf("succeeded = %v; want none", got)
	}
	if _, err := s.TasksPage(ctx, "lost", queue.Cursor{}, 0); err == nil {
		t.Error("an unknown state was accepted")
	}
}

func TestOverview(t *testing.T) {
	clk := newClock()
	s := mustStore(t, clk)
	ctx := context.Background()
	failTasks(t, s, clk, "f", 3, func(int) string { return "x" })
	mustEnqueue(t, s, queue.EnqueueParams{Job: "slow", Queue: "b"})
	exchange(t, s, nil, params) // claims it: running
	mustEnqueue(t, s, queue.EnqueueParams{Job: "waiting", Queue: "b"})
	clk.Advance(time.Minute)
	o, err := s.Overview(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Queues) != 2 || o.Queues[0].Queue != "b" || o.Queues[1].Queue != queue.DefaultQueue {
		t.Fatalf("queues = %+v; want b, default", o.Queues)
	}
	if b := o.Queues[0]; b.Due != 1 || b.Running != 1 || b.Wait != time.Minute {
		t.Errorf("queue b = %+v; want 1 due waiting 1m, 1 running", b)
	}
	if d := o.Queues[1]; d.LastHour[queue.Failed] != 3 {
		t.Errorf("default queue = %+v; want 3 failed in the last hour", d)
	}
	if o.FailedLastHour != 3 || o.FailedLastDay != 3 || o.DoneLastHour() != 3 {
		t.Errorf("failed %d/%d, done %d; want 3 each", o.FailedLastHour, o.FailedLastDay, o.DoneLastHour())
	}
	if len(o.Running) != 1 || o.Running[0].Worker != "w1" {
		t.Errorf("running = %+v; want the slow task on w1", o.Running)
	}
}
