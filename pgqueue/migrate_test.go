package pgqueue_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluicehq/sluice/internal/pgtest"
	"github.com/sluicehq/sluice/pgqueue"
)

// TestMigrateConcurrently opens one new database from several processes'
// worth of pools at once: each migration is applied exactly once.
func TestMigrateConcurrently(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	const n = 6
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s, err := pgqueue.Open(ctx, url, pgqueue.NewOpts{})
			if err == nil {
				s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	s := openStore(t, url, nil)
	var rows, distinct, latest int
	err := s.Pool().QueryRow(ctx, "SELECT count(*), count(DISTINCT version), max(version) FROM sluice_migrations").
		Scan(&rows, &distinct, &latest)
	if err != nil {
		t.Fatal(err)
	}
	if rows != latest || distinct != latest || latest < 4 {
		t.Errorf("sluice_migrations: %d rows, %d versions, latest %d; want one row per version", rows, distinct, latest)
	}
}

// TestMigrateRefusesNewerSchema: a database migrated by a newer Sluice is
// not touched by an older one.
func TestMigrateRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	s := openStore(t, url, nil)
	execSQL(t, s, "INSERT INTO sluice_migrations (version, name) VALUES (9999, '9999_future.sql')")
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := pgqueue.Migrate(ctx, pool); !errors.Is(err, pgqueue.ErrTooNew) {
		t.Fatalf("Migrate = %v; want ErrTooNew", err)
	}
	// The lock was released: the next Migrate is not stuck behind it.
	execSQL(t, s, "DELETE FROM sluice_migrations WHERE version = 9999")
	if err := pgqueue.Migrate(ctx, pool); err != nil {
		t.Fatalf("Migrate after the refusal: %v", err)
	}
}
