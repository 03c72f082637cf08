package schedule

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoClock checks that the package never reads the clock: every function
// takes the times it needs, so that tests and callers control time.
func TestNoClock(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, call := range []string{"time.Now(", "time.Since(", "time.Until(", "time.Sleep(", "time.After("} {
			if strings.Contains(string(src), call) {
				t.Errorf("%s calls %s", name, call)
			}
		}
	}
}
