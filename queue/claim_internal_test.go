package queue

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/sluicehq/sluice/sqlitewal"
)

// doneAfter is a context that reports Canceled once Err has been asked n
// times: it ends between two calls into the driver, with no goroutine or sleep.
type doneAfter struct {
	context.Context
	n int
}

func (d *doneAfter) Err() error {
	if d.n > 0 {
		d.n--
		return nil
	}
	return context.Canceled
}

// TestClaimInterruptedBetweenRows: when the context ends between two rows of
// the claim, the driver fails the next Step without calling SQLite, so
// Stmt.Reset reports nothing. claim must still report the interruption, not
// return the rows read so far as if they were all, and leave its statement
// reset.
func TestClaimInterruptedBetweenRows(t *testing.T) {
	ctx := context.Background()
	db, err := sqlitewal.Open(ctx, filepath.Join(t.TempDir(), "q.db"), sqlitewal.Options{Migrations: Migrations})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Write.Exec(`INSERT INTO tasks (job, run_at) VALUES ('a', 1), ('b', 1), ('c', 1)`); err != nil {
		t.Fatal(err)
	}
	p := ClaimParams{Worker: "w", Limit: 3, DefaultTimeout: time.Minute, DefaultMaxAttempts: 1}
	err = db.Raw(ctx, func(c *sqlitewal.Conn) error {
		if err := c.Exec("BEGIN IMMEDIATE"); err != nil {
			return err
		}
		st, err := c.Prepared(claimAllSQL) // compiled before the interruption
		if err != nil {
			return err
		}
		old := c.SetInterrupt(&doneAfter{Context: ctx, n: 1}) // the first Step runs, the second is interrupted
		tasks, err := claim(c, time.UnixMilli(1000), p)
		c.SetInterrupt(old)
		if !errors.Is(err, sqlite3.INTERRUPT) {
			t.Errorf("claim = %d tasks, %v; want INTERRUPT", len(tasks), err)
		}
		if st.Busy() {
			t.Error("claim left its statement mid-iteration")
		}
		return nil // Raw rolls back
	})
	if err != nil {
		t.Fatal(err)
	}
	var queued int
	if err := db.Read.QueryRow("SELECT count(*) FROM tasks WHERE state = 'queued'").Scan(&queued); err != nil {
		t.Fatal(err)
	}
	if queued != 3 {
		t.Errorf("queued = %d after the rollback, want 3", queued)
	}
}
