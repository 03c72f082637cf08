package sqlitewal_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/sluicehq/sluice/sqlitewal"
)

// TestCloseBesideAReader: a process holding a read transaction open, as
// Litestream always does, must not make Close wait for it. Close's
// checkpoint must not even ask the busy handler (which waits out the busy
// timeout, 5 s by default, at every drain's exit): the test counts the
// handler's calls instead of timing the close.
func TestCloseBesideAReader(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "q.db")
	db, err := sqlitewal.Open(ctx, path, sqlitewal.Options{Migrations: testMigrations})
	if err != nil {
		t.Fatal(err)
	}

	// The other process: its own handle on the file, a read transaction left open.
	other, err := sql.Open("sqlite3", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tx, err := other.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRow("SELECT count(*) FROM t").Scan(&n); err != nil {
		t.Fatal(err)
	}
	for range 10 { // frames in the WAL past the reader's snapshot
		if _, err := db.Write.Exec("INSERT INTO t(v) VALUES ('x')"); err != nil {
			t.Fatal(err)
		}
	}

	var asked atomic.Int32
	if err := db.Raw(ctx, func(c *sqlitewal.Conn) error {
		return c.BusyHandler(func(context.Context, int) bool { asked.Add(1); return false })
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := asked.Load(); got != 0 {
		t.Errorf("Close asked the busy handler %d times: it would wait out the busy timeout beside the reader", got)
	}
	tx.Rollback()
	// Nothing was lost: the frames are in the WAL or the main file.
	db2, err := sqlitewal.Open(ctx, path, sqlitewal.Options{Migrations: testMigrations})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	if err := db2.Read.QueryRow("SELECT count(*) FROM t").Scan(&n); err != nil || n != 11 {
		t.Errorf("rows after close = %d, %v; want 11", n, err)
	}
}
