package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicehq/sluice/cli"
	"github.com/sluicehq/sluice/queue"
)

// shellWarm is a warm worker in sh: its result is its own pid, so tasks
// served by one process share a result.
const shellWarm = `echo '{"sluice":1}'; while read -r line; do id=${line#*\"id\":}; id=${id%%,*}; echo "{\"id\":$id,\"ok\":true,\"result\":$$}"; done`

// TestDrainWarm drains tasks of a SLUICE_WARM_* job: one process serves
// them all, and the drain stops it when it ends.
func TestDrainWarm(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	ctx := context.Background()
	s := storeAt(t, path, &clock{t: time.Now()})
	var ids []int64
	for range 5 {
		id, err := s.Enqueue(ctx, queue.EnqueueParams{Job: "pid"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	env := environ(path, `SLUICE_WARM_PID=["sh","-c",`+quote(shellWarm)+`]`, "SLUICE_WORKERS=1")
	var errOut bytes.Buffer
	if err := (&cli.Main{Environ: env, Stderr: &errOut}).Run(ctx, []string{"drain"}); err != nil {
		t.Fatalf("drain: %v\n%s", err, errOut.String())
	}
	var first string
	for _, id := range ids {
		task, err := s.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if task.State != queue.Succeeded {
			t.Fatalf("task %d %s: %s", id, task.State, task.Error)
		}
		if first == "" {
			first = string(task.Result)
		}
		if string(task.Result) != first {
			t.Errorf("task %d ran in process %s, task %d in %s; want one warm process", ids[0], first, id, task.Result)
		}
	}
	if errOut.Len() > 0 && bytes.Contains(errOut.Bytes(), []byte("warm workers stopped")) {
		t.Errorf("the warm process had to be killed at the end of the drain:\n%s", errOut.String())
	}
}

// quote writes s as a JSON string.
func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
