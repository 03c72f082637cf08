package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/pgtest"
	"github.com/sluicehq/sluice/sqlitewal"
)

// TestMain runs this test binary as the latency measurement's sluice run
// when started so, and stops the private PostgreSQL server the tests may
// start.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(child())
	}
	os.Exit(pgtest.Main(m))
}

var toySizes = sizes{single: 50, batch: 200, drain: 200, sleep: 16, history: 100, rssTasks: 50, coldRuns: 2,
	pgSingle: 20, pgBatch: 200, pgDrain: 200, pgLatency: 5}

// runToy runs the steps matching only at toy sizes and returns the results
// from the JSON output, checking each is a positive figure in the table.
func runToy(t *testing.T, b *bench, only string) []Result {
	t.Helper()
	b.sz = toySizes
	jsonPath := filepath.Join(t.TempDir(), "out.json")
	var out strings.Builder
	if err := run(b, only, jsonPath, &out); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var results []Result
	if err := json.Unmarshal(data, &results); err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if r.Value <= 0 {
			t.Errorf("%s = %v %s; want a positive measurement", r.Name, r.Value, r.Unit)
		}
		if !strings.Contains(out.String(), r.Name) {
			t.Errorf("the table lacks %q", r.Name)
		}
	}
	t.Log(out.String())
	return results
}

// TestBenchRuns runs every SQLite measurement at toy sizes, so the
// benchmark command keeps working; the numbers themselves are not checked.
func TestBenchRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode: builds the binary")
	}
	results := runToy(t, &bench{sync: sqlitewal.SyncFull}, "")
	if len(results) != 13 {
		t.Errorf("%d results; want 13", len(results))
	}
}

// TestBenchRunsPostgres runs the PostgreSQL measurements at toy sizes on
// the tests' server, the latency one with this binary as sluice run.
func TestBenchRunsPostgres(t *testing.T) {
	u := pgtest.URL(t)
	b := &bench{sync: sqlitewal.SyncFull, pg: func() (string, func() error, error) { return u, func() error { return nil }, nil }}
	results := runToy(t, b, "pg")
	if len(results) != 6 {
		t.Errorf("%d results; want 6", len(results))
	}
}
