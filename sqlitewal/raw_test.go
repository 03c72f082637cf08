package sqlitewal_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/sluicehq/sluice/sqlitewal"
)

func count(tb testing.TB, db *sqlitewal.DB) int {
	tb.Helper()
	var n int
	if err := db.Read.QueryRow("SELECT count(*) FROM t").Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

// insert runs one INSERT in a transaction through Raw, with its statement
// prepared once.
func insert(ctx context.Context, db *sqlitewal.DB, v string) error {
	return db.Raw(ctx, func(c *sqlitewal.Conn) error {
		if err := c.Exec("BEGIN IMMEDIATE"); err != nil {
			return err
		}
		st, err := c.Prepared("INSERT INTO t (v) VALUES (?)")
		if err != nil {
			return err
		}
		if err := st.BindText(1, v); err != nil {
			return err
		}
		if err := st.Exec(); err != nil {
			return err
		}
		return c.Exec("COMMIT")
	})
}

func TestRawReusesStatementsAndCloses(t *testing.T) {
	ctx := context.Background()
	db, err := sqlitewal.Open(ctx, filepath.Join(t.TempDir(), "q.db"), sqlitewal.Options{Migrations: testMigrations})
	if err != nil {
		t.Fatal(err)
	}
	var first *sqlite3.Stmt
	for i := range 3 {
		if err := insert(ctx, db, "x"); err != nil {
			t.Fatal(err)
		}
		db.Raw(ctx, func(c *sqlitewal.Conn) error {
			st, err := c.Prepared("INSERT INTO t (v) VALUES (?)")
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				first = st
			} else if st != first {
				t.Errorf("call %d compiled the statement again", i)
			}
			return nil
		})
	}
	if got := count(t, db); got != 4 { // the seed row and 3
		t.Errorf("rows = %d, want 4", got)
	}
	// SQLite refuses to close a connection with statements left open: Close
	// must finalize the ones Raw prepared.
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := insert(ctx, db, "late"); err == nil {
		t.Error("Raw after Close: no error")
	}
}

func TestRawRollsBackWhatFnLeftOpen(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t, filepath.Join(t.TempDir(), "q.db"))
	boom := errors.New("boom")
	err := db.Raw(ctx, func(c *sqlitewal.Conn) error {
		if err := c.Exec("BEGIN IMMEDIATE; INSERT INTO t (v) VALUES ('lost')"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Raw = %v, want boom", err)
	}
	if got := count(t, db); got != 1 {
		t.Errorf("rows = %d, want only the seed row", got)
	}
	// The writer is usable again, through database/sql too.
	if _, err := db.Write.Exec("INSERT INTO t (v) VALUES ('after')"); err != nil {
		t.Fatal(err)
	}
}

// TestRawBusyAndCancel: waiting for the write lock ends with sqlite3.BUSY when
// the context is done, as it does through database/sql, and a cancelled
// context interrupts statements.
func TestRawBusyAndCancel(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "q.db")
	db := mustOpen(t, path)
	other := mustOpen(t, path)

	tx, err := other.Write.BeginTx(ctx, nil) // holds the write lock
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := insert(short, db, "blocked"); !errors.Is(err, sqlite3.BUSY) {
		t.Errorf("insert while locked = %v, want BUSY", err)
	}
	tx.Rollback()

	done, cancel := context.WithCancel(ctx)
	cancel()
	if err := insert(done, db, "cancelled"); err == nil {
		t.Error("insert with a cancelled context: no error")
	}
	err = db.Raw(ctx, func(c *sqlitewal.Conn) error {
		if err := c.Exec("BEGIN IMMEDIATE"); err != nil {
			return err
		}
		c.SetInterrupt(done) // as if ctx ended mid-transaction
		return c.Exec("INSERT INTO t (v) VALUES ('interrupted')")
	})
	if !errors.Is(err, sqlite3.INTERRUPT) {
		t.Errorf("statement after cancel = %v, want INTERRUPT", err)
	}
	if err := insert(ctx, db, "ok"); err != nil {
		t.Fatalf("insert after the interruptions: %v", err)
	}
	if got := count(t, db); got != 2 {
		t.Errorf("rows = %d, want the seed row and ok", got)
	}
}

// TestRawPanicLeavesNoLock: when fn panics inside a transaction, database/sql
// discards the writer connection. The transaction must not outlive the panic
// holding the write lock, and the statements Raw prepared must not keep the
// discarded connection open: later writes through database/sql and Raw work
// at once, not after a busy timeout.
func TestRawPanicLeavesNoLock(t *testing.T) {
	ctx := context.Background()
	db, err := sqlitewal.Open(ctx, filepath.Join(t.TempDir(), "q.db"),
		sqlitewal.Options{Migrations: testMigrations, BusyTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := insert(ctx, db, "before"); err != nil { // caches a statement
		t.Fatal(err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("Raw did not pass the panic on")
			}
		}()
		db.Raw(ctx, func(c *sqlitewal.Conn) error {
			if err := c.Exec("BEGIN IMMEDIATE; INSERT INTO t (v) VALUES ('lost')"); err != nil {
				t.Fatal(err)
			}
			panic("boom")
		})
	}()
	if _, err := db.Write.Exec("INSERT INTO t (v) VALUES ('after')"); err != nil {
		t.Fatalf("write through database/sql after the panic: %v", err)
	}
	if err := insert(ctx, db, "raw after"); err != nil {
		t.Fatalf("write through Raw after the panic: %v", err)
	}
	if got := count(t, db); got != 4 { // seed, before, after, raw after
		t.Errorf("rows = %d, want 4", got)
	}
}

// TestCloseWhileWriting: Close may run while another goroutine still writes
// through database/sql, as sql.DB.Close allows. Finalizing Raw's statements
// touches the writer connection, so it must wait its turn for it (the race
// detector reports it otherwise).
func TestCloseWhileWriting(t *testing.T) {
	for range 5 {
		ctx := context.Background()
		db, err := sqlitewal.Open(ctx, filepath.Join(t.TempDir(), "q.db"), sqlitewal.Options{Migrations: testMigrations})
		if err != nil {
			t.Fatal(err)
		}
		if err := insert(ctx, db, "cached"); err != nil {
			t.Fatal(err)
		}
		started, done := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; ; i++ {
				if _, err := db.Write.Exec("INSERT INTO t (v) VALUES ('w')"); err != nil {
					return // closed
				}
				if i == 0 {
					close(started)
				}
			}
		}()
		<-started
		if err := db.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		<-done
	}
}
