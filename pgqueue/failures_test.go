package pgqueue_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice/pgqueue"
	"github.com/sluicehq/sluice/queue"
)

// failEach enqueues n tasks of job and fails each with errText(i), one
// second of the store's clock apart. It returns their ids, oldest first.
func failEach(tb testing.TB, s *pgqueue.Store, clk *clock, job string, n int, errText func(int) string) []int64 {
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
func failurePages(t *testing.T, s *pgqueue.Store, p queue.FailureParams) []int64 {
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

func TestFailures(t *testing.T) {
	clk := newClock()
	s := mustStore(t, clk)
	ctx := context.Background()
	mail := failEach(t, s, clk, "mail", 5, func(i int) string { return fmt.Sprintf("smtp refused\nattempt %d", i) })
	feed := failEach(t, s, clk, "feed", 2, func(int) string { return "Timeout reading feed" })

	t.Run("pages, newest first", func(t *testing.T) {
		want := slices.Concat(mail, feed)
		slices.Reverse(want)
		if got := failurePages(t, s, queue.FailureParams{Limit: 3}); !slices.Equal(got, want) {
			t.Errorf("failures by page = %v; want %v (newest first, each once)", got, want)
		}
		p, err := s.Failures(ctx, queue.FailureParams{Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		if task := p.Tasks[0]; task.Duration != 250*time.Millisecond || task.Attempt != 1 || task.MaxAttempts != 1 ||
			task.Error != "Timeout reading feed" || task.Job != "feed" {
			t.Errorf("newest failure = %+v; want feed's, 250ms, attempt 1/1", task)
		}
		if want := (queue.Cursor{Key: p.Tasks[0].FinishedAt.UnixMilli(), ID: feed[1]}); p.Next != want {
			t.Errorf("next = %+v; want %+v (finish time and id)", p.Next, want)
		}
	})

	t.Run("same finish time", func(t *testing.T) {
		// Ties on the finish time still page by id, each task once.
		s := mustStore(t, newClock())
		var want []int64
		for range 5 {
			want = append(want, mustEnqueue(t, s, queue.EnqueueParams{Job: "j"}))
		}
		execSQL(t, s, "UPDATE tasks SET state = 'failed', finished_at = 1000, error = 'x'")
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

func TestFailureGroups(t *testing.T) {
	clk := newClock()
	s := mustStore(t, clk)
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
