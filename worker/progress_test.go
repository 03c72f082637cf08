package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/worker"
)

func TestProgressReports(t *testing.T) {
	e := newEnv(t)
	const n = 20
	for range n {
		e.enqueue(t, queue.EnqueueParams{Job: "probe"})
	}
	reports := make(chan worker.Progress, 1000)
	firstReport := make(chan struct{})
	var once sync.Once
	e.jobs.Register("probe", func(ctx context.Context, p json.RawMessage) ([]byte, error) {
		<-firstReport // hold the first tasks until a report has seen them pending
		return p, nil
	})
	e.opts.Workers = 1
	e.opts.ProgressEvery = time.Millisecond
	e.opts.Progress = func(p worker.Progress) {
		select {
		case reports <- p:
		default:
		}
		once.Do(func() { close(firstReport) })
	}
	sum := e.drain(t, worker.DrainOpts{})
	if sum.Succeeded != n {
		t.Fatalf("summary %+v; want %d succeeded", sum, n)
	}
	close(reports)
	// The first report comes while the first task waits for it, after the
	// first claim has been counted: nothing done, everything remaining.
	first := <-reports
	if first.Done != 0 || first.Remaining != n {
		t.Errorf("first report %+v; want 0 done, %d remaining", first, n)
	}
	last := first
	for p := range reports {
		if p.Done < last.Done {
			t.Errorf("done went back from %d to %d", last.Done, p.Done)
		}
		// Remaining is an estimate read beside the loop; it can lag a claim.
		if p.Remaining < 0 || p.Remaining > n || p.Done > n {
			t.Errorf("report %+v: want 0 <= remaining <= %d and done <= %d", p, n, n)
		}
		last = p
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestProgressIsLoggedWithoutACallback(t *testing.T) {
	e := newEnv(t)
	e.enqueue(t, queue.EnqueueParams{Job: "probe"})
	var logs syncBuffer
	e.opts.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	e.opts.ProgressEvery = time.Millisecond
	e.jobs.Register("probe", func(ctx context.Context, p json.RawMessage) ([]byte, error) {
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(logs.String(), `"msg":"progress"`) {
			if time.Now().After(deadline) {
				return nil, context.DeadlineExceeded
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Millisecond):
			}
		}
		return p, nil
	})
	e.opts.Timeout = time.Minute
	sum := e.drain(t, worker.DrainOpts{})
	if sum.Succeeded != 1 {
		t.Fatalf("summary %+v; logs:\n%s", sum, logs.String())
	}
	for line := range strings.SplitSeq(logs.String(), "\n") {
		if !strings.Contains(line, `"msg":"progress"`) {
			continue
		}
		var rec struct {
			Done      *int     `json:"done"`
			Remaining *int     `json:"remaining"`
			Rate      *float64 `json:"rate"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil || rec.Done == nil || rec.Remaining == nil || rec.Rate == nil {
			t.Fatalf("progress record %s: want done, remaining and rate (%v)", line, err)
		}
		return
	}
	t.Fatal("no progress record")
}
