package cli_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/cli"
	"github.com/sluicehq/sluice/config"
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

// TestScheduleSurprises covers the schedule habits an operator relies on.
func TestScheduleSurprises(t *testing.T) {
	f := newFixture(t)
	type shown struct {
		Zone     string      `json:"zone"`
		State    string      `json:"state"`
		NextRun  time.Time   `json:"next_run"`
		NextRuns []time.Time `json:"next_runs"`
	}
	show := func(t *testing.T, name string) shown {
		t.Helper()
		var v shown
		if err := json.Unmarshal([]byte(mustRun(t, f, "schedule", "show", "-json", name)), &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	t.Run("start in a DST gap", func(t *testing.T) {
		for _, tt := range []struct{ zone, start, first, second string }{
			{"America/New_York", "2027-03-14 02:30", "2027-03-14T07:30:00Z", "2027-03-15T06:30:00Z"}, // 03:30 EDT, then 02:30 EDT
			{"Europe/Berlin", "2027-03-28 02:30", "2027-03-28T01:30:00Z", "2027-03-29T00:30:00Z"},    // 03:30 CEST, then 02:30 CEST
		} {
			name := "gap-" + strings.ReplaceAll(tt.zone, "/", "-")
			mustRun(t, f, "schedule", "add", "-zone", tt.zone, "-start", tt.start, name, "echo_test", "daily")
			v := show(t, name)
			if got := [2]string{v.NextRuns[0].Format(time.RFC3339), v.NextRuns[1].Format(time.RFC3339)}; got != [2]string{tt.first, tt.second} {
				t.Errorf("%s %s daily: first runs %v; want %s, %s", tt.zone, tt.start, got, tt.first, tt.second)
			}
		}
	})
	t.Run("CRON_TZ is the zone shown", func(t *testing.T) {
		mustRun(t, f, "schedule", "add", "tz", "echo_test", "cron", "CRON_TZ=America/New_York 30 2 * * *")
		if v := show(t, "tz"); v.Zone != "America/New_York" {
			t.Errorf("zone %q; want America/New_York", v.Zone)
		}
		out := mustRun(t, f, "schedule", "show", "tz")
		if !strings.Contains(out, "in America/New_York") || !strings.Contains(out, "EST") || strings.Contains(out, "UTC  (") {
			t.Errorf("show:\n%s", out)
		}
		if list := mustRun(t, f, "schedule", "list"); !strings.Contains(list, "2026-03-02 02:30:00 EST") {
			t.Errorf("list does not show the next run in New York time:\n%s", list)
		}
	})
	t.Run("show's UTC column has a date", func(t *testing.T) {
		mustRun(t, f, "schedule", "add", "-zone", "Asia/Tokyo", "-start", "2027-01-01 08:00", "tokyo", "echo_test", "yearly")
		if out := mustRun(t, f, "schedule", "show", "tokyo"); !strings.Contains(out, "(2026-12-31 23:00:00Z)") {
			t.Errorf("show:\n%s", out)
		}
	})
	t.Run("@every without -start is due now", func(t *testing.T) {
		mustRun(t, f, "schedule", "add", "every", "echo_test", "cron", "@every 7m")
		if v := show(t, "every"); !v.NextRun.Equal(t0) {
			t.Errorf("next run %v; want now, %v", v.NextRun, t0)
		}
	})
	t.Run("once in the past fires at once", func(t *testing.T) {
		mustRun(t, f, "schedule", "add", "-start", "2026-01-01T00:00:00Z", "past", "echo_test", "once")
		v := show(t, "past")
		if v.State != "enabled" || v.NextRun.IsZero() {
			t.Errorf("once with a past start: %+v; want due", v)
		}
		if out := mustRun(t, f, "schedule", "show", "past"); !strings.Contains(out, "repeats:     once") {
			t.Errorf("show:\n%s", out)
		}
	})
	t.Run("repeats 0 is refused", func(t *testing.T) {
		_, errOut, code := f.run(t, nil, "schedule", "add", "-repeats", "0", "r0", "echo_test", "hourly")
		if code != 2 || !strings.Contains(errOut, "Django-Q2 reads 0 as stopped") {
			t.Errorf("exit %d: %s", code, errOut)
		}
		_, errOut, code = f.run(t, []string{`SLUICE_SCHEDULES=[{"name":"r0","job":"echo_test","type":"hourly","repeats":0}]`}, "drain")
		if code != 78 || !strings.Contains(errOut, "repeats 0 would never run") {
			t.Errorf("SLUICE_SCHEDULES repeats 0: exit %d: %s", code, errOut)
		}
		mustRun(t, f, "schedule", "add", "-repeats", "-1", "forever", "echo_test", "hourly")
	})
	t.Run("declared name made by schedule add exits 78", func(t *testing.T) {
		_, errOut, code := f.run(t, []string{`SLUICE_SCHEDULES=[{"name":"nightly","job":"echo_test","type":"hourly"}]`}, "drain")
		if code != 78 || !strings.Contains(errOut, `"nightly"`) {
			t.Errorf("exit %d: %s", code, errOut)
		}
	})
}

// TestPlurals: counts read right at one and zero.
func TestPlurals(t *testing.T) {
	db := filepath.Join(t.TempDir(), "q.db")
	r := run(t, db, nil, "", "drain")
	if r.code != 0 || strings.Contains(r.stdout, "tasks/s") {
		t.Errorf("empty drain: %q; want no rate", r.stdout)
	}
	var out bytes.Buffer
	cli.PrintError(&out, &config.Error{Problems: []string{"SLUICE_WORKERS: bad"}})
	if !strings.Contains(out.String(), "(1 problem)") {
		t.Errorf("one problem: %q", out.String())
	}
}

// TestEnqueueAtTakesStartForms: -at reads what schedule -start reads, in
// SLUICE_TZ.
func TestEnqueueAtTakesStartForms(t *testing.T) {
	f := newFixture(t)
	out, errOut, code := f.run(t, []string{"SLUICE_TZ=Europe/Berlin"}, "enqueue", "echo_test", "-at", "2026-03-02 09:30", "-json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var e struct {
		ID int64 `json:"id"`
	}
	json.Unmarshal([]byte(out), &e)
	got := decode[taskOut](t, mustRun(t, f, "show", "-json", fmt.Sprint(e.ID)))
	if want := time.Date(2026, 3, 2, 8, 30, 0, 0, time.UTC); got.RunAt == nil || !got.RunAt.Equal(want) {
		t.Errorf("run_at %v; want %v (09:30 in Berlin)", got.RunAt, want)
	}
}
