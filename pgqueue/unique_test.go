package pgqueue_test

import (
	"context"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/queue"
)

// TestEnqueueUniqueTx: within the caller's transaction a unique key is held
// by the transaction's own insert, and the task lives and dies with it. The
// rest of unique keys' behaviour is in the shared suite (queuetest).
func TestEnqueueUniqueTx(t *testing.T) {
	ctx := context.Background()
	s := mustStore(t, newClock())
	tx, err := s.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	a, err := s.EnqueueUniqueTx(ctx, tx, queue.EnqueueParams{Job: "x", UniqueKey: "tx"})
	if err != nil || a.Duplicate {
		t.Fatalf("a = %+v, %v", a, err)
	}
	b, err := s.EnqueueUniqueTx(ctx, tx, queue.EnqueueParams{Job: "x", UniqueKey: "tx"})
	if err != nil || !b.Duplicate || b.ID != a.ID {
		t.Fatalf("b = %+v, %v; want duplicate of %d", b, err, a.ID)
	}
	tx.Rollback(ctx)
	if r, err := s.EnqueueUnique(ctx, queue.EnqueueParams{Job: "x", UniqueKey: "tx"}); err != nil || r.Duplicate {
		t.Errorf("after rollback: %+v, %v; want a new task (the key went with the transaction)", r, err)
	}
}

// TestEnqueueIDTaken: ids inserted explicitly (a copy from SQLite, a
// contract client) leave the identity behind. Enqueue then fails with the
// primary key conflict and its cure, not as a unique key's duplicate, and
// after the cure it works again.
func TestEnqueueIDTaken(t *testing.T) {
	ctx := context.Background()
	s := mustStore(t, newClock())
	execSQL(t, s, "INSERT INTO tasks (id, job) SELECT i, 'old' FROM generate_series(1, 30) i")
	_, err := s.Enqueue(ctx, queue.EnqueueParams{Job: "new"})
	if err == nil || !strings.Contains(err.Error(), "tasks_pkey") || !strings.Contains(err.Error(), "setval") {
		t.Errorf("Enqueue: %v; want the primary key conflict and the setval that cures it", err)
	}
	_, err = s.EnqueueMany(ctx, []queue.EnqueueParams{{Job: "new"}, {Job: "new"}})
	if err == nil || !strings.Contains(err.Error(), "setval") {
		t.Errorf("EnqueueMany: %v; want the primary key conflict and the setval that cures it", err)
	}
	execSQL(t, s, "SELECT setval(pg_get_serial_sequence('tasks', 'id'), (SELECT max(id) FROM tasks))")
	if id, err := s.Enqueue(ctx, queue.EnqueueParams{Job: "new", UniqueKey: "k"}); err != nil || id != 31 {
		t.Errorf("after setval: Enqueue = %d, %v; want 31", id, err)
	}
}
