package queue

import (
	"fmt"
	"strings"
	"testing"
)

// TestBatchStatements checks that every rest of a batch gets a statement
// whose rows match its size and whose last parameter is the last bound.
func TestBatchStatements(t *testing.T) {
	for n := 1; n <= 3*batchRows; n++ {
		size := batchSize(n)
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
