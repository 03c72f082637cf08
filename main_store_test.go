package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/internal/pgtest"
	"github.com/sluicehq/sluice/pgqueue"
	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/sqlitewal"
)

// A storeKind is one engine the process tests run sluice against. Its
// newDB gives a fresh, empty database as SLUICE_DB names it: a file in the
// test's temporary folder, or a database on the PostgreSQL server pgtest
// provides (which skips the test without one, or fails it under CI=true).
type storeKind struct {
	name  string
	newDB func(t *testing.T) string
}

var storeKinds = []storeKind{
	{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "sluice.db") }},
	{"postgres", func(t *testing.T) string { return pgtest.URL(t) }},
}

// forEachStore runs test once per engine, as subtests named after it:
// `go test -run /postgres .` runs the PostgreSQL half of every such test.
func forEachStore(t *testing.T, test func(t *testing.T, k storeKind)) {
	for _, k := range storeKinds {
		t.Run(k.name, func(t *testing.T) { test(t, k) })
	}
}

// fresh returns a new database, for SLUICE_DB, and the test's window on it,
// opened (and migrated) before any process starts.
func (k storeKind) fresh(t *testing.T) (db string, store queue.Backend) {
	t.Helper()
	db = k.newDB(t)
	return db, openBackend(t, db, nil)
}

// openBackend opens the store SLUICE_DB=db selects, as the sluice command
// does. now, when not nil, is its clock (on PostgreSQL it replaces the
// database server's), for setting up what must be in the past.
func openBackend(t *testing.T, db string, now func() time.Time) queue.Backend {
	t.Helper()
	ctx := context.Background()
	var (
		s   queue.Backend
		err error
	)
	if config.IsPostgresURL(db) {
		s, err = pgqueue.Open(ctx, db, pgqueue.NewOpts{Now: now})
	} else {
		var wal *sqlitewal.DB
		wal, err = sqlitewal.Open(ctx, db, queue.OpenOptions())
		if err == nil {
			s = queue.New(wal, queue.NewOpts{Now: now})
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
