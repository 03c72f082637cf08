package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/sqlitewal"
)

// TestBenchRuns runs every measurement at toy sizes, so the benchmark
// command keeps working; the numbers themselves are not checked.
func TestBenchRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode: builds the binary")
	}
	sz := sizes{single: 50, batch: 200, drain: 200, sleep: 16, history: 100, rssTasks: 50, coldRuns: 2}
	jsonPath := filepath.Join(t.TempDir(), "out.json")
	var out strings.Builder
	if err := run(sz, "", sqlitewal.SyncFull, jsonPath, &out); err != nil {
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
	if len(results) != 13 {
		t.Errorf("%d results; want 13:\n%s", len(results), out.String())
	}
	for _, r := range results {
		if r.Value <= 0 {
			t.Errorf("%s = %v %s; want a positive measurement", r.Name, r.Value, r.Unit)
		}
		if !strings.Contains(out.String(), r.Name) {
			t.Errorf("the table lacks %q", r.Name)
		}
	}
}
