package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/sqlitewal"
)

// TestBatchStatements checks that every rest of a batch gets a statement
// whose rows match its size and whose last parameter is the last bound.
func TestBatchStatements(t *testing.T) {
	for n := 1; n <= 3*batchRows; n++ {
		size := batchSize(make([]EnqueueParams, n))
		if size < 1 || size > n || size > batchRows || size&(size-1) != 0 {
			t.Fatalf("batchSize(%d) = %d; want a power of two in [1, min(%d, %d)]", n, size, n, batchRows)
		}
		sql := batchInsertSQL(size)
		if rows := strings.Count(sql, " ?1, "); rows != size {
			t.Fatalf("batchInsertSQL(%d) has %d rows", size, rows)
		}
		last := fmt.Sprintf("?%d)", 1+size*batchColumns)
		if !strings.HasSuffix(sql, last) {
			t.Fatalf("batchInsertSQL(%d) ends %q; want %q", size, sql[len(sql)-20:], last)
		}
		if args := batchArgs(nil, 0, make([]EnqueueParams, size)); len(args) != 1+size*batchColumns {
			t.Fatalf("batchArgs for %d tasks gives %d parameters; want %d", size, len(args), 1+size*batchColumns)
		}
	}
}

// TestBatchSizeByPayload checks that tasks with large payloads go fewer to
// a statement, and that a task larger than batchBytes still goes alone.
func TestBatchSizeByPayload(t *testing.T) {
	withPayloads := func(n, size int) []EnqueueParams {
		ps := make([]EnqueueParams, n)
		for i := range ps {
			ps[i].Payload = make([]byte, size)
		}
		return ps
	}
	tests := []struct {
		ps   []EnqueueParams
		want int
	}{
		{withPayloads(300, 100), batchRows},
		{withPayloads(300, 1<<20), batchBytes / (1 << 20)},
		{withPayloads(300, batchBytes/2+1), 1},
		{withPayloads(3, 2*batchBytes), 1},
	}
	for _, tt := range tests {
		if got := batchSize(tt.ps); got != tt.want {
			t.Errorf("batchSize(%d tasks of %d bytes) = %d; want %d", len(tt.ps), len(tt.ps[0].Payload), got, tt.want)
		}
	}
}

// TestBatchLeavesNothingBound checks that the cached batch statements do not
// keep the last batch's payloads in SQLite's heap after EnqueueMany returns.
func TestBatchLeavesNothingBound(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "q.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	marker := strings.Repeat("x", 1000)
	ps := make([]EnqueueParams, batchRows+1) // one statement of batchRows, one of 1
	for i := range ps {
		ps[i] = EnqueueParams{Job: "j", Payload: json.RawMessage(`{"pad":"` + marker + `"}`)}
	}
	if _, err := s.EnqueueMany(ctx, ps); err != nil {
		t.Fatal(err)
	}
	err = s.db.Raw(ctx, func(c *sqlitewal.Conn) error {
		for _, n := range []int{batchRows, 1} {
			st, err := c.Prepared(batchInsertSQL(n))
			if err != nil {
				return err
			}
			if strings.Contains(st.ExpandedSQL(), marker) {
				t.Errorf("the statement of %d rows still holds the last batch's payloads", n)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
