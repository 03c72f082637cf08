package queuetest

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/queue"
)

func testUniqueKeyReturnsTheActiveTask(t *testing.T, h *Harness) {
	ctx := context.Background()
	s := h.open(t, newClock())
	first, err := s.EnqueueUnique(ctx, queue.EnqueueParams{Job: "x", UniqueKey: "k"})
	if err != nil || first.Duplicate {
		t.Fatalf("first = %+v, %v; want a new task", first, err)
	}
	second, err := s.EnqueueUnique(ctx, queue.EnqueueParams{Job: "x", UniqueKey: "k", Payload: []byte(`{"other":1}`)})
	if err != nil || !second.Duplicate || second.ID != first.ID {
		t.Fatalf("second = %+v, %v; want duplicate of %d", second, err, first.ID)
	}
	if id, err := s.Enqueue(ctx, queue.EnqueueParams{Job: "x", UniqueKey: "k"}); err != nil || id != first.ID {
		t.Fatalf("Enqueue = %d, %v; want %d", id, err, first.ID)
	}
	other := mustEnqueue(t, s, queue.EnqueueParams{Job: "x", UniqueKey: "other"})
	if other == first.ID {
		t.Fatal("a different key got the same task")
	}

	t.Run("running still holds the key", func(t *testing.T) {
		p := params
		p.Limit = 1
		claimed := exchange(t, s, nil, p).Claimed
		if len(claimed) != 1 || claimed[0].ID != first.ID {
			t.Fatalf("claimed %v; want task %d", ids(claimed), first.ID)
		}
		r, err := s.EnqueueUnique(ctx, queue.EnqueueParams{Job: "x", UniqueKey: "k"})
		if err != nil || !r.Duplicate || r.ID != first.ID {
			t.Fatalf("while running: %+v, %v; want duplicate of %d", r, err, first.ID)
		}
		// Finishing frees the key.
		exchange(t, s, []queue.Outcome{{ID: first.ID, Attempt: 1, Kind: queue.Succeed}}, queue.ClaimParams{Worker: "w1"})
		r, err = s.EnqueueUnique(ctx, queue.EnqueueParams{Job: "x", UniqueKey: "k"})
		if err != nil || r.Duplicate || r.ID == first.ID {
			t.Fatalf("after success: %+v, %v; want a new task", r, err)
		}
	})

	t.Run("blank key", func(t *testing.T) {
		if _, err := s.Enqueue(ctx, queue.EnqueueParams{Job: "x", UniqueKey: "  "}); !errors.Is(err, queue.ErrInvalid) {
			t.Fatalf("err = %v; want ErrInvalid", err)
		}
	})
}

func testEnqueueManyWithUniqueKeys(t *testing.T, h *Harness) {
	ctx := context.Background()
	s := h.open(t, newClock())
	held := mustEnqueue(t, s, queue.EnqueueParams{Job: "x", UniqueKey: "a"})
	rs, err := s.EnqueueManyUnique(ctx, []queue.EnqueueParams{
		{Job: "x", UniqueKey: "a"}, // held before the batch
		{Job: "x", UniqueKey: "b"},
		{Job: "x"},
		{Job: "x", UniqueKey: "b"}, // held by the batch's second task
	})
	if err != nil {
		t.Fatal(err)
	}
	if !rs[0].Duplicate || rs[0].ID != held || rs[1].Duplicate || rs[2].Duplicate ||
		!rs[3].Duplicate || rs[3].ID != rs[1].ID {
		t.Fatalf("results %+v; want [dup %d, new, new, dup of second]", rs, held)
	}
	ids, err := s.EnqueueMany(ctx, []queue.EnqueueParams{{Job: "x", UniqueKey: "b"}, {Job: "x", UniqueKey: "c"}})
	if err != nil || ids[0] != rs[1].ID || ids[1] <= rs[3].ID {
		t.Fatalf("EnqueueMany = %v, %v; want [%d, new]", ids, err, rs[1].ID)
	}
	counts, _ := s.Counts(ctx)
	if counts[queue.Queued] != 4 { // a, b, unkeyed, c
		t.Fatalf("queued = %d; want 4", counts[queue.Queued])
	}
}

func testUniqueKeyUnderConcurrency(t *testing.T, h *Harness) {
	ctx := context.Background()
	s := h.open(t, newClock())
	const n = 8
	results := make([]queue.Enqueued, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i], errs[i] = s.EnqueueUnique(ctx, queue.EnqueueParams{Job: "x", UniqueKey: "same"})
		}()
	}
	close(start)
	wg.Wait()
	fresh := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if !results[i].Duplicate {
			fresh++
		}
		if results[i].ID != results[0].ID {
			t.Errorf("goroutine %d got task %d; goroutine 0 got %d", i, results[i].ID, results[0].ID)
		}
	}
	counts, _ := s.Counts(ctx)
	if fresh != 1 || counts[queue.Queued] != 1 {
		t.Fatalf("%d goroutines added a task, %d queued; want exactly 1", fresh, counts[queue.Queued])
	}
}

// testUniqueKeyIsEnforcedByTheDatabase checks that a plain SQL insert (as
// other languages do) cannot add a second active task with a held key.
func testUniqueKeyIsEnforcedByTheDatabase(t *testing.T, h *Harness) {
	s := h.open(t, newClock())
	mustEnqueue(t, s, queue.EnqueueParams{Job: "x", UniqueKey: "k"})
	_, err := h.SQL(t, s, "INSERT INTO tasks (job, unique_key) VALUES ('x', 'k')")
	if err == nil {
		t.Fatal("second active task with the same key inserted; want a UNIQUE error")
	}
}
