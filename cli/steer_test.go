package cli_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestRetryCommand(t *testing.T) {
	t.Run("ids", func(t *testing.T) {
		f := newFixture(t)
		out, errOut, code := f.run(t, nil, "retry", fmt.Sprint(f.ids["failed"]), fmt.Sprint(f.ids["cancelled"]))
		if code != 0 || out != "retried 2 tasks\n" {
			t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
		}
		got := decode[taskOut](t, mustRun(t, f, "show", "-json", fmt.Sprint(f.ids["failed"])))
		if got.State != "queued" || got.Attempt != 0 || got.FinishedAt != nil || !got.RunAt.Equal(t0) ||
			len(got.History) != 3 || got.History[2].Outcome != "retried" || got.History[2].Attempt != 2 {
			t.Errorf("after retry: %+v", got)
		}
	})
	t.Run("failed of one job", func(t *testing.T) {
		f := newFixture(t)
		out := mustRun(t, f, "retry", "-failed", "-job", "send_mail")
		if out != "retried 1 failed send_mail task\n" {
			t.Errorf("stdout %q", out)
		}
		out = mustRun(t, f, "retry", "-failed")
		if out != "retried 1 failed task\n" {
			t.Errorf("stdout %q", out)
		}
		v := decode[struct {
			Tasks []taskOut `json:"tasks"`
		}](t, mustRun(t, f, "tasks", "-json", "-state", "failed"))
		if len(v.Tasks) != 0 {
			t.Errorf("%d failed tasks left; want 0", len(v.Tasks))
		}
	})
}

func TestPurgeCommand(t *testing.T) {
	f := newFixture(t)
	// The fixture's failed tasks finished 90m and 20m ago.
	if out := mustRun(t, f, "purge", "-state", "failed", "-older-than", "1h"); out != "purged 1 failed task\n" {
		t.Errorf("stdout %q", out)
	}
	if out := mustRun(t, f, "purge", "-state", "failed", "-keep", "1"); out != "purged 0 failed tasks\n" {
		t.Errorf("stdout %q", out)
	}
	if out := mustRun(t, f, "purge", "-state", "cancelled", "-keep", "1"); out != "purged 0 cancelled tasks\n" {
		t.Errorf("stdout %q", out)
	}
	if out := mustRun(t, f, "purge", "-state", "succeeded", "-older-than", "2h"); out != "purged 1 succeeded task\n" {
		t.Errorf("stdout %q", out)
	}
	v := decode[struct {
		Tasks []taskOut `json:"tasks"`
	}](t, mustRun(t, f, "tasks", "-json"))
	var states []string
	for _, task := range v.Tasks {
		states = append(states, task.State)
	}
	if got := strings.Join(states, " "); got != "queued queued queued running failed cancelled" {
		t.Errorf("states left: %s", got)
	}
}

func TestEnqueueUnique(t *testing.T) {
	f := newFixture(t)
	out, errOut, code := f.run(t, nil, "enqueue", "-unique", "nightly", "echo_test", `{"x":1}`)
	if code != 0 || strings.TrimSpace(out) != fmt.Sprint(f.ids["unique"]) ||
		!strings.Contains(errOut, fmt.Sprintf("task %d already holds unique key \"nightly\"; nothing added", f.ids["unique"])) {
		t.Fatalf("exit %d, stdout %q, stderr %q; want the holder's id", code, out, errOut)
	}
	out, _, code = f.run(t, nil, "enqueue", "-unique", "weekly", "echo_test")
	if code != 0 || strings.TrimSpace(out) == fmt.Sprint(f.ids["unique"]) {
		t.Fatalf("a new key: exit %d, stdout %q; want a new task", code, out)
	}
	got := decode[taskOut](t, mustRun(t, f, "show", "-json", strings.TrimSpace(out)))
	if got.UniqueKey != "weekly" {
		t.Errorf("new task %+v; want unique key weekly", got)
	}
}

// TestDrainAppliesRetention drains the fixture with limits that remove the
// old finished tasks, and reads progress from the JSON log.
func TestDrainAppliesRetention(t *testing.T) {
	f := newFixture(t)
	env := []string{"SLUICE_KEEP_SUCCEEDED=1h", "SLUICE_KEEP_FAILED=1", "SLUICE_LOG_FORMAT=json", "SLUICE_WORKERS=1"}
	out, errOut, code := f.run(t, env, "drain")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	// Due: 6 (echo_test) and 8 (report, unknown job: retried later). Removed:
	// the succeeded task of 3h ago, the older failed one and nothing cancelled
	// (one is kept).
	if !strings.Contains(out, "drained: 2 ran, 1 succeeded, 0 failed, 1 retried later") || !strings.Contains(out, ", 2 old finished tasks removed") {
		t.Errorf("summary %q", out)
	}
	for line := range strings.SplitSeq(strings.TrimSpace(errOut), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("log line is not JSON: %q", line)
		}
	}
	v := decode[struct {
		Tasks []taskOut `json:"tasks"`
	}](t, mustRun(t, f, "tasks", "-json", "-state", "succeeded,failed,cancelled"))
	var left []string
	for _, task := range v.Tasks {
		left = append(left, fmt.Sprintf("%d:%s", task.ID, task.State))
	}
	want := fmt.Sprintf("%d:succeeded %d:failed %d:cancelled", f.ids["queued"], f.ids["failed2"], f.ids["cancelled"])
	if got := strings.Join(left, " "); got != want {
		t.Errorf("finished tasks left %s; want %s", got, want)
	}
}

// TestPurgeGroup: the finished tasks of group "import" (succeeded,
// cancelled, failed2 in the fixture) go, its running task stays.
func TestPurgeGroup(t *testing.T) {
	f := newFixture(t)
	groupTasks := func() map[string]string { // id: state
		v := decode[struct {
			Tasks []taskOut       `json:"tasks"`
			Group json.RawMessage `json:"group"`
		}](t, mustRun(t, f, "tasks", "-json", "-group", "import"))
		got := map[string]string{}
		for _, task := range v.Tasks {
			got[fmt.Sprint(task.ID)] = task.State
		}
		return got
	}
	before := groupTasks()
	if out := mustRun(t, f, "purge", "-dry-run", "-group", "import"); out != "would purge 3 finished tasks of group import\n" {
		t.Errorf("dry run: %q", out)
	}
	if out := mustRun(t, f, "purge", "-group", "import", "-ungroup", "-dry-run"); out != "would ungroup 3 finished tasks of group import\n" {
		t.Errorf("dry run ungroup: %q", out)
	}
	if got := groupTasks(); len(got) != len(before) {
		t.Fatalf("a dry run changed the group: %v, was %v", got, before)
	}
	if out := mustRun(t, f, "purge", "-group", "import"); out != "purged 3 finished tasks of group import\n" {
		t.Errorf("purge: %q", out)
	}
	want := map[string]string{fmt.Sprint(f.ids["running"]): "running"}
	if got := groupTasks(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("group after purge: %v; want %v", got, want)
	}
}

func mustRun(tb testing.TB, f *fixture, args ...string) string {
	tb.Helper()
	out, errOut, code := f.run(tb, nil, args...)
	if code != 0 {
		tb.Fatalf("%v: exit %d: %s", args, code, errOut)
	}
	return out
}
