package pgqueue_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/internal/pgtest"
	"github.com/sluicehq/sluice/queue"
)

// TestExecMode: behind a pooler that keeps no prepared statements
// (PgBouncer before 1.21, or max_prepared_statements = 0) the URL sets
// default_query_exec_mode=exec; Open honours it and the store works
// without preparing a statement.
func TestExecMode(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	switch {
	case !strings.Contains(url, "://"):
		url += " default_query_exec_mode=exec"
	case strings.Contains(url, "?"):
		url += "&default_query_exec_mode=exec"
	default:
		url += "?default_query_exec_mode=exec"
	}
	s := openStore(t, url, nil)
	if mode := s.Pool().Config().ConnConfig.DefaultQueryExecMode; mode != pgx.QueryExecModeExec {
		t.Fatalf("exec mode = %v; want exec", mode)
	}
	a := mustEnqueue(t, s, queue.EnqueueParams{Job: "x", UniqueKey: "k"})
	if _, err := s.EnqueueMany(ctx, []queue.EnqueueParams{{Job: "y"}, {Job: "y"}}); err != nil {
		t.Fatal(err)
	}
	res := exchange(t, s, nil, params)
	if len(res.Claimed) != 3 {
		t.Fatalf("claimed %d; want 3", len(res.Claimed))
	}
	var outs []queue.Outcome
	for _, c := range res.Claimed {
		outs = append(outs, queue.Outcome{ID: c.ID, Attempt: c.Attempt, Kind: queue.Succeed, Result: []byte(`{}`)})
	}
	if res := exchange(t, s, outs, params); len(res.Stale) > 0 {
		t.Fatalf("stale outcomes: %+v", res.Stale)
	}
	if got, err := s.Get(ctx, a); err != nil || got.State != queue.Succeeded {
		t.Fatalf("task %d: %+v, %v; want succeeded", a, got, err)
	}
	var prepared int
	if err := s.Pool().QueryRow(ctx, "SELECT count(*) FROM pg_prepared_statements").Scan(&prepared); err != nil {
		t.Fatal(err)
	}
	if prepared != 0 {
		t.Errorf("%d prepared statements on a connection; want none in exec mode", prepared)
	}
}
