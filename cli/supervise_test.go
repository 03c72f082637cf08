package cli_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/proctest"
	"github.com/sluicehq/sluice/supervisor"
)

// TestShowLeftoversAndPeakMemory drains an exec job that succeeds but
// leaves a double-forked process running: the supervisor kills it, and
// `sluice show` says so with the attempt's peak memory.
func TestShowLeftoversAndPeakMemory(t *testing.T) {
	db := filepath.Join(t.TempDir(), "q.db")
	marker := fmt.Sprintf("PROCTEST_MARKER=show-%d", time.Now().UnixNano())
	env := []string{"PATH=" + os.Getenv("PATH"), "SLUICE_LOG_FORMAT=json",
		`SLUICE_EXEC_LEAVE=["env","` + marker + `","sh","-c","(sleep 1000 &); echo '\"ok\"'"]`}
	if r := run(t, db, env, "", "enqueue", "leave"); r.err != nil {
		t.Fatal(r.err, r.stderr)
	}
	if r := run(t, db, env, "", "drain"); r.err != nil || !strings.Contains(r.stderr, "process containment: supervisor") {
		t.Fatalf("drain: %v\n%s", r.err, r.stderr)
	}
	if left := proctest.Marked(marker); len(left) > 0 {
		t.Errorf("left running after the attempt: %v", proctest.Describe(left))
	}
	r := run(t, db, env, "", "show", "1")
	if !strings.Contains(r.stdout, "LEFTOVER") || !strings.Contains(r.stdout, "succeeded") ||
		!strings.Contains(r.stdout, "1 process ") || !strings.Contains(r.stdout, " MiB") {
		t.Errorf("show does not give the leftover process and peak memory:\n%s", r.stdout)
	}
	r = run(t, db, env, "", "show", "-json", "1")
	if !strings.Contains(r.stdout, `"leftover": 1`) || !strings.Contains(r.stdout, `"peak_rss": `) {
		t.Errorf("show -json:\n%s", r.stdout)
	}
}

// TestLimitsNeedCgroupV2: memory and process limits where no writable
// cgroup v2 subtree exists are a configuration error, not ignored.
func TestLimitsNeedCgroupV2(t *testing.T) {
	if c, _ := supervisor.Detect(false); c.Cgroup != "" {
		t.Skip("skipped: this machine has a writable cgroup v2 subtree, so limits are valid here")
	}
	r := run(t, filepath.Join(t.TempDir(), "q.db"), []string{"SLUICE_MEMORY_MAX=1000000000"}, "", "status")
	if r.code != 78 || !strings.Contains(r.stderr, "limits need a writable cgroup v2 subtree") {
		t.Errorf("exit %d, stderr %q; want 78 naming the missing cgroup v2", r.code, r.stderr)
	}
}
