package jobs_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice/jobs"
)

// The conformance test checks a warm worker written in any language against
// docs/warm-protocol.md. Without flags it checks the reference worker above:
//
//	go test ./jobs -run TestWarmConformance -args \
//	  -warm.cmd='["python3","manage.py","sluice_worker"]' \
//	  -warm.ok='{"func":"accounts.tasks.echo_test","args":["hi"]}' \
//	  -warm.fail='{"func":"accounts.tasks.no_such_task"}'
var (
	warmCmd  = flag.String("warm.cmd", "", "JSON array: the warm worker to check; empty: the reference worker")
	warmJob  = flag.String("warm.job", "conformance", "job name sent in requests")
	warmOK   = flag.String("warm.ok", `{"echo":{"x":1}}`, "a payload the worker must succeed with")
	warmFail = flag.String("warm.fail", `{"fail":"expected"}`, "a payload the worker must fail with (empty: skip)")
	warmN    = flag.Int("warm.n", 50, "tasks one process must serve in a row")
)

func TestWarmConformance(t *testing.T) {
	opts := refWorker(t, "serve")
	if *warmCmd != "" {
		opts = jobs.WarmOpts{KillGrace: 5 * time.Second}
		if err := json.Unmarshal([]byte(*warmCmd), &opts.Argv); err != nil || len(opts.Argv) == 0 {
			t.Fatalf("-warm.cmd=%q: want a JSON array of strings (%v)", *warmCmd, err)
		}
	}
	opts.Start = 30 * time.Second
	opts.KillGrace = 5 * time.Second // SLUICE_KILL_GRACE's default: the time to exit after stdin closes
	j, p := jobs.Warm(*warmJob, opts)
	defer p.Close()
	task := func(id int64, payload string) ([]byte, error) {
		return runTask(j, id, payload, 30*time.Second)
	}

	t.Run("handshake and a task", func(t *testing.T) {
		out, err := task(1, *warmOK)
		if err != nil {
			t.Fatalf("task failed: %v", err)
		}
		if !json.Valid(out) {
			t.Errorf("result %q is not JSON", out)
		}
	})
	t.Run(fmt.Sprintf("%d tasks in one process", *warmN), func(t *testing.T) {
		for i := range *warmN {
			if _, err := task(int64(100+i), *warmOK); err != nil {
				t.Fatalf("task %d: %v", i, err)
			}
		}
	})
	if *warmFail != "" {
		t.Run("a failure is a reply, and the process serves on", func(t *testing.T) {
			_, err := task(2, *warmFail)
			if err == nil {
				t.Fatal("the failing payload succeeded")
			}
			t.Logf("error: %v", err)
			if _, err := task(3, *warmOK); err != nil {
				t.Fatalf("after a failure: %v", err)
			}
		})
	}
	if got := p.Started(); got != 1 {
		t.Errorf("started %d processes; a warm worker must serve every task above in one", got)
	}
	t.Run("exits when stdin closes", func(t *testing.T) {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	})
}
