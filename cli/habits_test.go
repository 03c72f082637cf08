package cli_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestFlagsAnywhere checks that flags go anywhere on the line, as in git and
// kubectl, and that "--" ends them.
func TestFlagsAnywhere(t *testing.T) {
	f := newFixture(t)
	id := fmt.Sprint(f.ids["failed"])
	before, _, _ := f.run(t, nil, "show", "-json", id)
	after, errOut, code := f.run(t, nil, "show", id, "-json")
	if code != 0 || after != before {
		t.Errorf("show ID -json: exit %d, %s\n%s", code, errOut, after)
	}
	out, errOut, code := f.run(t, nil, "enqueue", "echo_test", `{"a":1}`, "-queue", "x", "-json")
	if code != 0 {
		t.Fatalf("enqueue JOB PAYLOAD -queue x: exit %d: %s", code, errOut)
	}
	var e struct {
		ID        int64 `json:"id"`
		Duplicate bool  `json:"duplicate"`
	}
	if err := json.Unmarshal([]byte(out), &e); err != nil || e.ID == 0 {
		t.Fatalf("enqueue -json: %q, %v", out, err)
	}
	got := decode[taskOut](t, mustRun(t, f, "show", fmt.Sprint(e.ID), "--json"))
	if got.Queue != "x" || compact(t, got.Payload) != `{"a":1}` {
		t.Errorf("enqueued %+v", got)
	}
	// After "--", "-json" is an argument: a bad task id.
	_, errOut, code = f.run(t, nil, "show", "--", "-json")
	if code != 2 || !strings.Contains(errOut, `task id "-json"`) {
		t.Errorf("show -- -json: exit %d, %q", code, errOut)
	}
	// A flag's value may be "--".
	_, errOut, code = f.run(t, nil, "enqueue", "-group", "--", "echo_test")
	if code != 0 {
		t.Errorf("enqueue -group -- echo_test: exit %d, %q", code, errOut)
	}
}

// TestBadFlagPrintsOnlyTheSynopsis: a bad flag names itself, the command's
// Usage lines and its help hint, not the whole help.
func TestBadFlagPrintsOnlyTheSynopsis(t *testing.T) {
	f := newFixture(t)
	out, errOut, code := f.run(t, nil, "retry", "-faild")
	want := "sluice: retry: flag provided but not defined: -faild\n" +
		"Usage: sluice retry [flags] ID...\n       sluice retry -failed [-job JOB] [-dry-run]\n" +
		"Run 'sluice retry -h' for usage.\n"
	if code != 2 || out != "" || errOut != want {
		t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant:\n%s", code, out, errOut, want)
	}
	_, errOut, _ = f.run(t, nil, "schedule", "add", "n", "echo_test", "daily", "-timeout", "5")
	if !strings.Contains(errOut, `invalid value "5" for flag -timeout: missing unit: write 5s, 5m or 5h`) ||
		!strings.HasSuffix(errOut, "Run 'sluice schedule add -h' for usage.\n") {
		t.Errorf("stderr %q", errOut)
	}
}

func TestVersionAndCompletion(t *testing.T) {
	f := newFixture(t)
	for _, args := range [][]string{{"--version"}, {"-version"}, {"version"}} {
		out, _, code := f.run(t, nil, args...)
		if code != 0 || !strings.HasPrefix(out, "sluice ") {
			t.Errorf("%v: exit %d, %q", args, code, out)
		}
	}
	for _, sh := range []string{"bash", "zsh", "fish"} {
		out, _, code := f.run(t, nil, "completion", sh)
		if code != 0 || !strings.Contains(out, "sluice __complete") {
			t.Errorf("completion %s: exit %d\n%s", sh, code, out)
		}
	}
	if _, _, code := f.run(t, nil, "completion", "tcsh"); code != 2 {
		t.Errorf("completion tcsh: exit %d; want 2", code)
	}
	for _, tt := range []struct {
		words []string
		want  string
	}{
		{[]string{"sch"}, "schedule\n"},
		{[]string{"schedule", "p"}, "pause\n"},
		{[]string{"help", "gr"}, "groups\n"},
		{[]string{"tasks", "-st"}, "-state\n"},
		{[]string{"schedule", "add", "-catch"}, "-catch-up\n"},
		{[]string{"tasks", "-state", "f"}, "failed\n"},
		{[]string{"retry", "-d"}, "-dry-run\n"},
		{[]string{"completion", "z"}, "zsh\n"},
	} {
		out, _, code := f.run(t, nil, append([]string{"__complete"}, tt.words...)...)
		if code != 0 || out != tt.want {
			t.Errorf("__complete %q = %q (exit %d); want %q", tt.words, out, code, tt.want)
		}
	}
}

// TestJSONEverywhere checks -json on the commands that print.
func TestJSONEverywhere(t *testing.T) {
	f := newFixture(t)
	id := func(name string) string { return fmt.Sprint(f.ids[name]) }

	v := decode[struct {
		Settings []struct {
			Name, Value, Origin, Help string
		} `json:"settings"`
		Jobs []string `json:"jobs"`
	}](t, mustRun(t, f, "config", "-json"))
	if len(v.Settings) < 10 || v.Settings[0].Name == "" || len(v.Jobs) == 0 {
		t.Errorf("config -json: %+v", v)
	}

	c := decode[struct {
		Cancelled []struct {
			ID  int64  `json:"id"`
			Was string `json:"was"`
		} `json:"cancelled"`
	}](t, mustRun(t, f, "cancel", id("queued"), id("running"), id("cancelled"), "-json"))
	if len(c.Cancelled) != 3 || c.Cancelled[0].Was != "queued" || c.Cancelled[1].Was != "running" || c.Cancelled[2].Was != "cancelled" {
		t.Errorf("cancel -json: %+v", c)
	}

	type retryOut struct {
		Retried []int64 `json:"retried"`
		Count   int     `json:"count"`
		Skipped int     `json:"skipped"`
		DryRun  bool    `json:"dry_run"`
	}
	r := decode[retryOut](t, mustRun(t, f, "retry", "-failed", "-dry-run", "-json"))
	if r.Count != 2 || !r.DryRun {
		t.Errorf("retry -failed -dry-run -json: %+v", r)
	}
	if out := mustRun(t, f, "retry", "-failed", "-dry-run", "-job", "send_mail"); out != "would retry 1 failed send_mail task\n" {
		t.Errorf("retry -failed -dry-run: %q", out)
	}
	r = decode[retryOut](t, mustRun(t, f, "retry", "-json", id("failed")))
	if r.Count != 1 || len(r.Retried) != 1 || r.DryRun {
		t.Errorf("retry -json: %+v", r)
	}

	type purgeOut struct {
		State   string `json:"state"`
		Deleted int    `json:"deleted"`
		DryRun  bool   `json:"dry_run"`
	}
	p := decode[purgeOut](t, mustRun(t, f, "purge", "-state", "CANCELLED", "-keep", "1", "-dry-run", "-json"))
	if p.State != "cancelled" || p.Deleted != 2 || !p.DryRun {
		t.Errorf("purge -dry-run -json: %+v", p)
	}
	if out := mustRun(t, f, "purge", "-dry-run", "-state", "succeeded", "-older-than", "1h"); out != "would purge 1 succeeded task\n" {
		t.Errorf("purge -dry-run: %q", out)
	}
	p = decode[purgeOut](t, mustRun(t, f, "purge", "-state", "cancelled", "-keep", "1", "-json"))
	if p.Deleted != 2 || p.DryRun {
		t.Errorf("purge -json: %+v", p)
	}

	type schedOut struct {
		Name     string   `json:"name"`
		Zone     string   `json:"zone"`
		State    string   `json:"state"`
		RunsLeft *int     `json:"runs_left"`
		NextRuns []string `json:"next_runs"`
	}
	var l struct {
		Schedules []schedOut `json:"schedules"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, f, "schedule", "list", "-json")), &l); err != nil {
		t.Fatal(err)
	}
	if len(l.Schedules) != 7 || l.Schedules[0].Name != "feeds" {
		t.Errorf("schedule list -json: %+v", l)
	}
	var s map[string]any
	if err := json.Unmarshal([]byte(mustRun(t, f, "schedule", "show", "nightly", "-json")), &s); err != nil ||
		s["zone"] != "Europe/Berlin" || len(s["next_runs"].([]any)) != 5 || s["runs_left"] != nil {
		t.Errorf("schedule show -json: %v, %v", s, err)
	}
}

// TestNotFoundAndAlreadyDone: unknown ids, schedules and groups all exit
// 1; asking for what already holds exits 0, for tasks and schedules alike.
func TestNotFoundAndAlreadyDone(t *testing.T) {
	f := newFixture(t)
	for _, args := range [][]string{{"show", "999"}, {"cancel", "999"}, {"retry", "999"},
		{"schedule", "show", "nope"}, {"schedule", "pause", "nope"}, {"groups", "nope"}} {
		if _, errOut, code := f.run(t, nil, args...); code != 1 {
			t.Errorf("%v: exit %d; want 1 (%s)", args, code, errOut)
		}
	}
	id := fmt.Sprint(f.ids["cancelled"])
	if out, _, code := f.run(t, nil, "cancel", id); code != 0 || out != id+": already cancelled\n" {
		t.Errorf("re-cancel: exit %d, %q", code, out)
	}
	for range 2 {
		if _, errOut, code := f.run(t, nil, "schedule", "pause", "paused"); code != 0 {
			t.Errorf("re-pause: exit %d, %s", code, errOut)
		}
	}
	// All or nothing: the queued task stays queued when another id is bad.
	queued := fmt.Sprint(f.ids["queued"])
	f.run(t, nil, "cancel", queued, "999")
	if got := decode[taskOut](t, mustRun(t, f, "show", "-json", queued)); got.State != "queued" {
		t.Errorf("after a refused cancel the queued task is %s", got.State)
	}
}
