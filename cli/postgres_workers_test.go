package cli_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/pgtest"
	"github.com/sluicehq/sluice/queue"
)

// TestPostgresStatusListsWorkers: sluice status on PostgreSQL lists the
// registered workers with the tasks each holds, as on SQLite.
func TestPostgresStatusListsWorkers(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	s := openPG(t, url)
	id, err := s.Enqueue(ctx, queue.EnqueueParams{Job: "echo_test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Register(ctx, queue.WorkerInfo{ID: "w-pg", Host: "box", PID: 42, Version: "test", Command: "drain",
		StaleAfter: time.Hour}); err != nil {
		t.Fatal(err)
	}
	p := queue.ClaimParams{Worker: "w-pg", Registered: true, Limit: 1, Starts: 1, DefaultTimeout: time.Minute, DefaultMaxAttempts: 3}
	if res, err := s.Exchange(ctx, nil, p); err != nil || len(res.Claimed) != 1 {
		t.Fatalf("claim = %+v, %v", res, err)
	}
	var got struct {
		Workers []struct {
			ID    string  `json:"id"`
			Host  string  `json:"host"`
			PID   int     `json:"pid"`
			Dead  bool    `json:"dead"`
			Tasks []int64 `json:"tasks"`
		} `json:"workers"`
	}
	out := runProcess(t, sluiceProcess(t, url, "status", "-json"))
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("status -json: %v\n%s", err, out)
	}
	if len(got.Workers) != 1 || got.Workers[0].ID != "w-pg" || got.Workers[0].Host != "box" || got.Workers[0].PID != 42 ||
		got.Workers[0].Dead || len(got.Workers[0].Tasks) != 1 || got.Workers[0].Tasks[0] != id {
		t.Errorf("status -json workers = %+v; want w-pg on box, alive, holding task %d", got.Workers, id)
	}
}
