package pgqueue_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/internal/pgtest"
	"github.com/sluicehq/sluice/queue"
)

// TestOwnSchemaBesideAppTables: in an application's database that has a
// tasks table of its own, Sluice lives in the schema that search_path in
// the URL names, and leaves the application's table alone.
func TestOwnSchemaBesideAppTables(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	app, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close(ctx)
	for _, q := range []string{
		"CREATE TABLE tasks (title text)", // the application's, not Sluice's
		"INSERT INTO tasks VALUES ('write the report')",
		"CREATE SCHEMA sluice",
	} {
		if _, err := app.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	s := openStore(t, url+sep+"search_path=sluice", nil)
	id := mustEnqueue(t, s, queue.EnqueueParams{Job: "x"})
	if got, err := s.Get(ctx, id); err != nil || got.Job != "x" {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	var n int
	var title string
	if err := app.QueryRow(ctx, "SELECT count(*) FROM sluice.tasks").Scan(&n); err != nil || n != 1 {
		t.Errorf("sluice.tasks holds %d tasks, %v; want 1", n, err)
	}
	if err := app.QueryRow(ctx, "SELECT title FROM public.tasks").Scan(&title); err != nil || title != "write the report" {
		t.Errorf("the application's tasks table: %q, %v; want it untouched", title, err)
	}
}
