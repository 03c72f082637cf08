package pgqueue_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice/pgqueue"
	"github.com/sluicehq/sluice/queue"
)

// allPages follows TasksPage in state st, size pages, to the end.
func allPages(t *testing.T, s *pgqueue.Store, st queue.State, size int) []int64 {
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

func TestTasksPage(t *testing.T) {
	clk := newClock()
	s := mustStore(t, clk)
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
		tied = append(tied, insertID(t, s, "INSERT INTO tasks (job, state, finished_at) VALUES ('t', 'succeeded', 1000) RETURNING id"))
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
	if want := (queue.Cursor{Key: p.Tasks[0].FinishedAt.UnixMilli(), ID: failed[0]}); err != nil || p.Next != want {
		t.Errorf("next = %+v, %v; want %+v", p.Next, err, want)
	}
	if _, err := s.TasksPage(ctx, "lost", queue.Cursor{}, 0); !errors.Is(err, queue.ErrInvalid) {
		t.Errorf("an unknown state: %v; want ErrInvalid", err)
	}
}

func TestOverview(t *testing.T) {
	clk := newClock()
	s := mustStore(t, clk)
	ctx := context.Background()
	failEach(t, s, clk, "f", 3, func(int) string { return "x" })
	mustEnqueue(t, s, queue.EnqueueParams{Job: "slow", Queue: "b"})
	exchange(t, s, nil, params) // claims it: running
	mustEnqueue(t, s, queue.EnqueueParams{Job: "waiting", Queue: "b"})
	mustEnqueue(t, s, queue.EnqueueParams{Job: "later", Queue: "b", RunAt: clk.Now().Add(time.Hour)})
	// A failure of yesterday counts for the day only; one of last week not at all.
	execSQL(t, s, `INSERT INTO tasks (job, queue, state, finished_at, error) VALUES
		('old', 'a', 'failed', $1, 'x'), ('older', 'c', 'failed', $2, 'x')`,
		clk.Now().Add(-2*time.Hour).UnixMilli(), clk.Now().Add(-7*24*time.Hour).UnixMilli())
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

// TestOverviewDatabaseClock: without an injected clock, the overview goes
// by the database's.
func TestOverviewDatabaseClock(t *testing.T) {
	s := mustStore(t, nil)
	read := func() time.Time {
		var ms int64
		err := s.Pool().QueryRow(context.Background(), "SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint").Scan(&ms)
		if err != nil {
			t.Fatal(err)
		}
		return time.UnixMilli(ms)
	}
	before := read()
	o, err := s.Overview(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	after := read()
	if o.Now.Before(before) || o.Now.After(after) {
		t.Errorf("now = %v; want the database's clock, between %v and %v", o.Now, before, after)
	}
}

func TestPurgeGroup(t *testing.T) {
	s := mustStore(t, newClock())
	ctx := context.Background()
	done := mustEnqueue(t, s, queue.EnqueueParams{Job: "a", Group: "g"})
	queued := mustEnqueue(t, s, queue.EnqueueParams{Job: "b", Group: "g"})
	other := mustEnqueue(t, s, queue.EnqueueParams{Job: "c", Group: "h"})
	kept := mustEnqueue(t, s, queue.EnqueueParams{Job: "d", Group: "h"})
	if _, err := s.Cancel(ctx, []int64{done, other}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.PurgeGroup(ctx, "g", true, true); err != nil || n != 1 {
		t.Fatalf("ungroup, dry run: %d, %v; want 1", n, err)
	}
	if task, _ := s.Get(ctx, done); task.Group != "g" {
		t.Errorf("a dry run changed the task's group to %q", task.Group)
	}
	if n, err := s.PurgeGroup(ctx, "g", true, false); err != nil || n != 1 {
		t.Fatalf("ungroup: %d, %v; want 1", n, err)
	}
	if task, _ := s.Get(ctx, done); task.Group != "" || task.State != queue.Cancelled {
		t.Errorf("ungrouped task = %+v; want kept, without a group", task)
	}
	if n, err := s.PurgeGroup(ctx, "h", false, true); err != nil || n != 1 {
		t.Fatalf("purge, dry run: %d, %v; want 1", n, err)
	}
	if n, err := s.PurgeGroup(ctx, "h", false, false); err != nil || n != 1 {
		t.Fatalf("purge: %d, %v; want 1", n, err)
	}
	if _, err := s.Get(ctx, other); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("purged task: %v; want ErrNotFound", err)
	}
	for _, id := range []int64{queued, kept} {
		if task, err := s.Get(ctx, id); err != nil || task.State != queue.Queued || task.Group == "" {
			t.Errorf("queued task = %+v, %v; want kept in its group", task, err)
		}
	}
	if n, err := s.PurgeGroup(ctx, "nobody", false, false); err != nil || n != 0 {
		t.Errorf("unknown group: %d, %v; want 0", n, err)
	}
	if _, err := s.PurgeGroup(ctx, "", false, false); !errors.Is(err, queue.ErrInvalid) {
		t.Errorf("empty group: %v; want ErrInvalid", err)
	}
}
