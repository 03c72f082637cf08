package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/pgtest"
	"github.com/sluicehq/sluice/pgqueue"
	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/web"
)

// TestOverviewListsWorkersOnPostgres: the overview lists PostgreSQL's
// registered workers with the tasks they hold, as SQLite's.
func TestOverviewListsWorkersOnPostgres(t *testing.T) {
	ctx := context.Background()
	store, err := pgqueue.Open(ctx, pgtest.URL(t), pgqueue.NewOpts{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	h := web.Handler(store, web.Opts{})
	if _, _, body := get(t, h, "/"); !strings.Contains(body, "No worker is registered") {
		t.Errorf("overview without workers does not say so:\n%.3000s", body)
	}
	id, err := store.Enqueue(ctx, queue.EnqueueParams{Job: "ok"})
	if err != nil {
		t.Fatal(err)
	}
	const worker = "host-b:77:overview"
	if err := store.Register(ctx, queue.WorkerInfo{ID: worker, Host: "host-b", PID: 77, Version: "test",
		Command: "drain", StaleAfter: time.Minute}); err != nil {
		t.Fatal(err)
	}
	res, err := store.Exchange(ctx, nil, queue.ClaimParams{Worker: worker, Registered: true, Limit: 1,
		DefaultTimeout: time.Minute, DefaultMaxAttempts: 1})
	if err != nil || len(res.Claimed) != 1 || res.Claimed[0].ID != id {
		t.Fatalf("claim: %+v, %v; want task %d", res.Claimed, err, id)
	}
	_, _, body := get(t, h, "/")
	for _, want := range []string{worker, "host-b", ">77<", fmt.Sprintf(`href="/tasks/%d"`, id)} {
		if !strings.Contains(body, want) {
			t.Errorf("overview lacks %q:\n%.4000s", want, body)
		}
	}
}
