package queuetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice/queue"
)

// insertFinished adds n tasks in state st that finished one per second
// before the clock: the higher the id, the newer.
func insertFinished(tb testing.TB, h *Harness, s queue.Backend, clk *clock, st queue.State, n int) {
	tb.Helper()
	h.sql(tb, s, fmt.Sprintf(`WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < %[1]d)
		INSERT INTO tasks (job, state, attempt, finished_at, created_at, run_at)
		SELECT 'old', '%[2]s', 1, %[3]d - (%[1]d - i) * 1000, 0, 0 FROM k`, n, st, clk.Now().UnixMilli()))
}

func testPrune(t *testing.T, h *Harness) {
	ctx := context.Background()
	tests := []struct {
		name        string
		keep        queue.Keep
		n, batch    int
		wantLeft    int
		wantBatches int
	}{
		{"by age", queue.Keep{Age: 100 * time.Second}, 1200, 500, 101, 3}, // finished 0..100 s ago stay
		{"by count", queue.Keep{Count: 10}, 1200, 500, 10, 3},
		{"both: the stricter wins", queue.Keep{Age: time.Hour, Count: 5}, 100, 30, 5, 4},
		{"both: age stricter", queue.Keep{Age: 9 * time.Second, Count: 50}, 100, 30, 10, 3},
		{"nothing to do", queue.Keep{Count: 200}, 100, 30, 100, 0},
		{"zero keeps all", queue.Keep{}, 100, 30, 100, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			s := h.open(t, clk)
			insertFinished(t, h, s, clk, queue.Succeeded, tt.n)
			insertFinished(t, h, s, clk, queue.Failed, 7)
			if n, err := s.PruneDryRun(ctx, queue.Succeeded, tt.keep); err != nil || n != tt.n-tt.wantLeft {
				t.Errorf("PruneDryRun = %d, %v; want %d", n, err, tt.n-tt.wantLeft)
			}
			p, err := s.Prune(ctx, queue.Succeeded, tt.keep, tt.batch)
			if err != nil {
				t.Fatal(err)
			}
			counts, _ := s.Counts(ctx)
			if counts[queue.Succeeded] != tt.wantLeft || p.Deleted != tt.n-tt.wantLeft || p.Batches != tt.wantBatches {
				t.Errorf("left %d, pruned %+v; want %d left in %d batches", counts[queue.Succeeded], p, tt.wantLeft, tt.wantBatches)
			}
			if counts[queue.Failed] != 7 {
				t.Errorf("failed = %d; pruning succeeded must not touch them", counts[queue.Failed])
			}
			// The newest are the ones kept.
			kept, _ := s.List(ctx, queue.ListParams{States: []queue.State{queue.Succeeded}})
			for _, k := range kept {
				if age := clk.Now().Sub(k.FinishedAt); age >= time.Duration(tt.wantLeft)*time.Second {
					t.Fatalf("kept task %d finished %s ago; only the newest %d should stay", k.ID, age, tt.wantLeft)
				}
			}
		})
	}
}

func testPruneRefusesActiveStates(t *testing.T, h *Harness) {
	s := h.open(t, newClock())
	for _, st := range []queue.State{queue.Queued, queue.Running, "bogus"} {
		if _, err := s.Prune(context.Background(), st, queue.Keep{Count: 1}, 0); !errors.Is(err, queue.ErrInvalid) {
			t.Errorf("Prune(%s) err = %v; want ErrInvalid", st, err)
		}
	}
}
