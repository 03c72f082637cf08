package cli_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/cli"
	"github.com/sluicehq/sluice/config"
)

// sluiceIn runs the command line in-process on db and returns its output.
func sluiceIn(t *testing.T, db string, extraEnv []string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	m := &cli.Main{Environ: environ(db, extraEnv...), Stdout: &out, Stderr: &out}
	err := m.Run(context.Background(), args)
	return out.String(), err
}

func TestScheduleCommands(t *testing.T) {
	db := filepath.Join(t.TempDir(), "q.db")
	steps := []struct {
		args []string
		want []string // substrings of the output
		code int
	}{
		{[]string{"schedule", "add", "-start", "2026-01-31T09:00", "-zone", "America/New_York", "invoices", "echo_test", "monthly"},
			[]string{"added schedule invoices"}, 0},
		{[]string{"schedule", "add", "-catch-up", "all", "-no-overlap", "mail", "echo_test", "cron", "0 9 * * 1-5"},
			[]string{"added schedule mail"}, 0},
		{[]string{"schedule", "add", "mail", "echo_test", "hourly"}, []string{"already exists"}, cli.ExitUsage},
		{[]string{"schedule", "add", "x", "echo_test", "cron", "0 0 30 2 *"}, []string{"never fires"}, cli.ExitUsage},
		{[]string{"schedule", "add", "x", "echo_test", "minutes", "ten"}, []string{"whole number of minutes"}, cli.ExitUsage},
		{[]string{"schedule", "add", "x", "no_such_job", "hourly"}, []string{"no_such_job"}, cli.ExitUsage},
		{[]string{"schedule", "add", "x", "echo_test", "daily", "9"}, []string{"takes no VALUE"}, cli.ExitUsage},
		{[]string{"schedule", "add", "-zone", "Local", "x", "echo_test", "daily"}, []string{"local zone"}, cli.ExitUsage},
		{[]string{"schedule", "list"}, []string{"NEXT RUN (ZONE)", "NEXT RUN (UTC)", "invoices", "monthly", "EST", "cron 0 9 * * 1-5", "enabled"}, 0},
		{[]string{"schedule", "show", "invoices"}, []string{"when:", "monthly in America/New_York", "next due times:", "-02-28 09:00:00 EST", "-03-31 09:00:00 EDT"}, 0},
		{[]string{"schedule", "pause", "mail"}, []string{"paused schedule mail"}, 0},
		{[]string{"schedule", "list"}, []string{"paused"}, 0},
		{[]string{"schedule", "resume", "mail"}, []string{"resumed schedule mail; next run"}, 0},
		{[]string{"schedule", "rm", "mail"}, []string{"removed schedule mail"}, 0},
		{[]string{"schedule", "rm", "mail"}, []string{"not found"}, cli.ExitFailure},
		{[]string{"schedule", "show"}, []string{"want one NAME"}, cli.ExitUsage},
		{[]string{"schedule", "frobnicate"}, []string{"unknown subcommand"}, cli.ExitUsage},
		{[]string{"schedule", "add", "-h"}, []string{"Usage: sluice schedule add", "Examples:", "-catch-up"}, 0},
		{[]string{"help", "run"}, []string{"Usage: sluice run", "SLUICE_POLL", "Examples:"}, 0},
	}
	for _, s := range steps {
		out, err := sluiceIn(t, db, nil, s.args...)
		if code := cli.ExitCode(err); code != s.code {
			t.Errorf("%q: exit %d (%v); want %d\n%s", s.args, code, err, s.code, out)
		}
		if err != nil {
			out += err.Error()
		}
		for _, w := range s.want {
			if !strings.Contains(out, w) {
				t.Errorf("%q: output\n%s\nwant %q", s.args, out, w)
			}
		}
	}
}

func TestDeclaredSchedulesThroughDrain(t *testing.T) {
	db := filepath.Join(t.TempDir(), "q.db")
	decl := func(v string) []string { return []string{"SLUICE_SCHEDULES=" + v} }
	if _, err := sluiceIn(t, db, nil, "schedule", "add", "by-hand", "echo_test", "hourly"); err != nil {
		t.Fatal(err)
	}
	out, err := sluiceIn(t, db, decl(`[{"name":"feeds","job":"echo_test","type":"minutes","every":15}]`), "drain")
	if err != nil || !strings.Contains(out, "drained: 2 ran") {
		t.Fatalf("drain: %v\n%s", err, out) // feeds and by-hand are both due at once
	}
	list, _ := sluiceIn(t, db, nil, "schedule", "list")
	if !strings.Contains(list, "feeds") || !strings.Contains(list, " env") || !strings.Contains(list, " cli") {
		t.Errorf("list:\n%s\nwant feeds from env and by-hand from cli", list)
	}
	// Unset: declared schedules are left alone.
	if _, err := sluiceIn(t, db, nil, "drain"); err != nil {
		t.Fatal(err)
	}
	if list, _ := sluiceIn(t, db, nil, "schedule", "list"); !strings.Contains(list, "feeds") {
		t.Errorf("an unset SLUICE_SCHEDULES removed declared schedules:\n%s", list)
	}
	// [] removes them; CLI schedules stay.
	if _, err := sluiceIn(t, db, decl(`[]`), "drain"); err != nil {
		t.Fatal(err)
	}
	list, _ = sluiceIn(t, db, nil, "schedule", "list")
	if strings.Contains(list, "feeds") || !strings.Contains(list, "by-hand") {
		t.Errorf("after SLUICE_SCHEDULES=[]:\n%s\nwant only by-hand", list)
	}
	// Bad declarations are configuration errors, every problem listed.
	_, err = sluiceIn(t, db, decl(`[{"name":"a","job":"nope","type":"hourly"},{"name":"b","job":"echo_test","type":"weekly-ish"}]`), "drain")
	var cerr *config.Error
	if !errors.As(err, &cerr) || cli.ExitCode(err) != cli.ExitConfig || len(cerr.Problems) != 2 {
		t.Errorf("err = %v; want a configuration error with 2 problems", err)
	}
	// Declaring a CLI schedule's name fails the drain before it runs anything.
	if _, err := sluiceIn(t, db, decl(`[{"name":"by-hand","job":"echo_test","type":"hourly"}]`), "drain"); err == nil ||
		!strings.Contains(err.Error(), "made with the CLI") {
		t.Errorf("err = %v; want a name clash with the CLI schedule", err)
	}
}

// TestScheduleWithUnknownZone: one stored schedule whose zone this system
// cannot load is flagged, not fatal: list, show, status and drain go on.
func TestScheduleWithUnknownZone(t *testing.T) {
	db := filepath.Join(t.TempDir(), "q.db")
	for _, name := range []string{"bad", "good"} {
		if out, err := sluiceIn(t, db, nil, "schedule", "add", "-start", "2030-01-01T09:00:00Z", name, "echo_test", "daily"); err != nil {
			t.Fatalf("add %s: %v\n%s", name, err, out)
		}
	}
	store := storeAt(t, db, &clock{t: t0})
	if _, err := store.DB().Write.Exec(`UPDATE schedules SET zone = 'Mars/Olympus' WHERE name = 'bad'`); err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct {
		args []string
		want []string
	}{
		{[]string{"schedule", "list"}, []string{"good", "enabled", "error", `schedule "bad": unknown time zone "Mars/Olympus"`}},
		{[]string{"schedule", "show", "bad"}, []string{"error:", "Mars/Olympus", "next due times:"}},
		{[]string{"status"}, []string{"Next schedule runs:", "good", "warning: left out", `"bad"`}},
		{[]string{"status", "-json"}, []string{`"schedule": "good"`, "warning: left out"}},
	} {
		out, err := sluiceIn(t, db, nil, s.args...)
		if err != nil {
			t.Errorf("%q: %v\n%s", s.args, err, out)
			continue
		}
		for _, w := range s.want {
			if !strings.Contains(out, w) {
				t.Errorf("%q: output\n%s\nwant %q", s.args, out, w)
			}
		}
	}
}
