package cli_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestHumanOutput(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name string
		args []string
	}{
		{"status", []string{"status"}},
		{"tasks", []string{"tasks"}},
		{"tasks_failed", []string{"tasks", "-state", "failed,cancelled"}},
		{"tasks_filters", []string{"tasks", "-queue", "mail", "-job", "send_mail", "-since", "3h", "-limit", "1"}},
		{"tasks_group", []string{"tasks", "--group", "import"}},
		{"show_failed", []string{"show", fmt.Sprint(f.ids["failed"])}},
		{"show_running", []string{"show", fmt.Sprint(f.ids["running"])}},
		{"show_unique", []string{"show", fmt.Sprint(f.ids["unique"])}},
		{"show_succeeded", []string{"show", fmt.Sprint(f.ids["succeeded"])}},
		{"groups", []string{"groups"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := f.run(t, nil, tt.args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			golden(t, tt.name, out)
		})
	}
}

// TestTablesFitTheTerminal lays the tables out at 50, 80 and 120 columns
// and for a pipe (0: nothing cut).
func TestTablesFitTheTerminal(t *testing.T) {
	f := newFixture(t)
	for _, width := range []int{50, 80, 120, 0} {
		for _, args := range [][]string{{"tasks"}, {"tasks", "-state", "failed"}, {"groups"}} {
			name := fmt.Sprintf("%s_%d", strings.Join(args, "_"), width)
			t.Run(name, func(t *testing.T) {
				out, errOut, code := f.runWidth(t, width, nil, args...)
				if code != 0 {
					t.Fatalf("exit %d: %s", code, errOut)
				}
				goldenWidth(t, "width/"+name, out, width)
			})
		}
	}
	t.Run("wide", func(t *testing.T) {
		out, _, _ := f.runWidth(t, 50, nil, "tasks", "-wide")
		pipe, _, _ := f.runWidth(t, 0, nil, "tasks")
		if out != pipe || !strings.Contains(out, "resize_image_thumbnails_large") || !strings.Contains(out, "very-long-file-name.png") {
			t.Errorf("tasks -wide at 50 columns:\n%s\nwant it as in a pipe:\n%s", out, pipe)
		}
	})
}

// TestHelpGolden pins the help of every command and subcommand: no empty
// Flags section, lines within 80 columns.
func TestHelpGolden(t *testing.T) {
	f := newFixture(t)
	cmds := [][]string{{}, {"drain"}, {"run"}, {"enqueue"}, {"cancel"}, {"status"}, {"tasks"}, {"show"},
		{"groups"}, {"retry"}, {"purge"}, {"config"}, {"version"}, {"completion"},
		{"schedule"}, {"schedule", "add"}, {"schedule", "list"}, {"schedule", "show"}, {"schedule", "rm"},
		{"schedule", "pause"}, {"schedule", "resume"}}
	for _, c := range cmds {
		name := "help_" + strings.Join(c, "_")
		t.Run(name, func(t *testing.T) {
			out, errOut, code := f.run(t, nil, append([]string{"help"}, c...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if strings.Contains(out, "Flags:\n\n") || strings.HasSuffix(out, "Flags:\n") {
				t.Errorf("empty Flags section:\n%s", out)
			}
			if len(c) > 0 {
				// -h after the command gives the same text.
				h, _, _ := f.run(t, nil, append(c, "-h")...)
				if h != out {
					t.Errorf("%v -h differs from help %v:\n%s", c, c, h)
				}
			}
			goldenWidth(t, "help/"+name, out, 80)
		})
	}
}

func decode[T any](tb testing.TB, s string) T {
	tb.Helper()
	var v T
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		tb.Fatalf("decode %T: %v\n%s", v, err, s)
	}
	return v
}

func compact(tb testing.TB, b []byte) string {
	tb.Helper()
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		tb.Fatalf("%v: %s", err, b)
	}
	return out.String()
}

type taskOut struct {
	ID          int64           `json:"id"`
	Job         string          `json:"job"`
	Queue       string          `json:"queue"`
	Group       string          `json:"group"`
	UniqueKey   string          `json:"unique_key"`
	State       string          `json:"state"`
	Priority    int             `json:"priority"`
	Attempt     int             `json:"attempt"`
	MaxAttempts int             `json:"max_attempts"`
	TimeoutMS   int64           `json:"timeout_ms"`
	RunAt       *time.Time      `json:"run_at"`
	CreatedAt   *time.Time      `json:"created_at"`
	StartedAt   *time.Time      `json:"started_at"`
	FinishedAt  *time.Time      `json:"finished_at"`
	LeaseUntil  *time.Time      `json:"lease_until"`
	Worker      string          `json:"worker"`
	DurationMS  int64           `json:"duration_ms"`
	Error       string          `json:"error"`
	Payload     json.RawMessage `json:"payload"`
	Result      json.RawMessage `json:"result"`
	History     []struct {
		Attempt    int        `json:"attempt"`
		Outcome    string     `json:"outcome"`
		StartedAt  *time.Time `json:"started_at"`
		DurationMS int64      `json:"duration_ms"`
		Error      string     `json:"error"`
	} `json:"history"`
}

type groupOut struct {
	Group  string         `json:"group"`
	Total  int            `json:"total"`
	Counts map[string]int `json:"counts"`
}

func TestJSONOutput(t *testing.T) {
	f := newFixture(t)
	run := func(t *testing.T, args ...string) string {
		out, errOut, code := f.run(t, nil, args...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		return out
	}

	t.Run("status", func(t *testing.T) {
		st := decode[struct {
			Now    time.Time `json:"now"`
			Queues []struct {
				Queue           string         `json:"queue"`
				Counts          map[string]int `json:"counts"`
				OldestDueWaitMS int64          `json:"oldest_due_wait_ms"`
			} `json:"queues"`
			Totals  map[string]int `json:"totals"`
			Workers []struct {
				ID            string    `json:"id"`
				Host          string    `json:"host"`
				PID           int       `json:"pid"`
				Command       string    `json:"command"`
				Version       string    `json:"version"`
				StartedAt     time.Time `json:"started_at"`
				HeartbeatAt   time.Time `json:"heartbeat_at"`
				HeartbeatAgeS float64   `json:"heartbeat_age_s"`
				Dead          bool      `json:"dead"`
				Tasks         []int64   `json:"tasks"`
			} `json:"workers"`
			Running []struct {
				ID         int64      `json:"id"`
				Job        string     `json:"job"`
				Queue      string     `json:"queue"`
				Attempt    int        `json:"attempt"`
				Worker     string     `json:"worker"`
				StartedAt  time.Time  `json:"started_at"`
				LeaseUntil *time.Time `json:"lease_until"`
			} `json:"running"`
			FailedLastHour int   `json:"failed_last_hour"`
			FailedLastDay  int   `json:"failed_last_day"`
			DonePerMinute  []int `json:"done_per_minute"`
			NextSchedules  []struct {
				Schedule string    `json:"schedule"`
				Job      string    `json:"job"`
				At       time.Time `json:"at"`
				Zone     string    `json:"zone"`
				AtLocal  string    `json:"at_local"`
			} `json:"next_schedule_runs"`
			MoreSchedules int `json:"more_schedules"`
		}](t, run(t, "status", "--json"))
		if !st.Now.Equal(t0) || len(st.Queues) != 2 || st.Queues[0].Queue != "default" ||
			st.Queues[0].OldestDueWaitMS != 600_000 || st.Queues[0].Counts["queued"] != 2 || st.Queues[1].Counts["failed"] != 1 {
			t.Errorf("queues %+v at %s", st.Queues, st.Now)
		}
		want := map[string]int{"queued": 3, "running": 1, "succeeded": 1, "failed": 2, "cancelled": 1}
		if !maps.Equal(st.Totals, want) {
			t.Errorf("totals %v; want %v", st.Totals, want)
		}
		if len(st.Running) != 1 || st.Running[0].ID != f.ids["running"] || st.Running[0].Worker != "host-1-abcd" ||
			st.Running[0].LeaseUntil != nil {
			t.Errorf("running %+v", st.Running)
		}
		if len(st.Workers) != 1 || st.Workers[0].ID != "host-1-abcd" || st.Workers[0].PID != 4242 || st.Workers[0].Dead ||
			st.Workers[0].HeartbeatAgeS != 300 || !slices.Equal(st.Workers[0].Tasks, []int64{f.ids["running"]}) {
			t.Errorf("workers %+v", st.Workers)
		}
		if st.FailedLastHour != 1 || st.FailedLastDay != 2 || len(st.DonePerMinute) != 60 ||
			st.DonePerMinute[30] != 1 || st.DonePerMinute[40] != 1 {
			t.Errorf("failures %d/%d, per minute %v", st.FailedLastHour, st.FailedLastDay, st.DonePerMinute)
		}
		// Enabled schedules, soonest first, five of six; the paused one never.
		var names []string
		for _, r := range st.NextSchedules {
			names = append(names, r.Schedule)
		}
		if want := []string{"feeds", "hourly", "nightly", "weekday-mail", "monthly-invoices"}; !slices.Equal(names, want) || st.MoreSchedules != 1 {
			t.Errorf("next schedule runs %v, %d more; want %v, 1 more", names, st.MoreSchedules, want)
		}
		if len(st.NextSchedules) > 2 {
			n := st.NextSchedules[2]
			if n.Job != "report" || !n.At.Equal(time.Date(2026, 3, 2, 1, 30, 0, 0, time.UTC)) || n.At.Location() != time.UTC ||
				n.Zone != "Europe/Berlin" || n.AtLocal != "2026-03-02T02:30:00+01:00" {
				t.Errorf("nightly %+v; want report at 2026-03-02T01:30:00Z, 02:30+01:00 in Europe/Berlin", n)
			}
		}
	})

	t.Run("tasks", func(t *testing.T) {
		v := decode[struct {
			Tasks []taskOut `json:"tasks"`
			Group *groupOut `json:"group"`
		}](t, run(t, "tasks", "-json", "-state", "failed"))
		if len(v.Tasks) != 2 || v.Group != nil {
			t.Fatalf("got %+v; want the 2 failed tasks and no group", v)
		}
		got := v.Tasks[1]
		if got.ID != f.ids["failed"] || got.State != "failed" || got.Attempt != 2 || got.MaxAttempts != 2 ||
			got.DurationMS != 42000 || !strings.HasPrefix(got.Error, "dial smtp: connection refused\n") ||
			got.FinishedAt == nil || !got.FinishedAt.Equal(t0.Add(-90*time.Minute)) || got.Payload != nil || got.History != nil {
			t.Errorf("task %+v", got)
		}
	})

	t.Run("tasks -group", func(t *testing.T) {
		v := decode[struct {
			Tasks []taskOut `json:"tasks"`
			Group *groupOut `json:"group"`
		}](t, run(t, "tasks", "-json", "-group", "import"))
		if len(v.Tasks) != 4 || v.Group == nil || v.Group.Total != 4 || v.Group.Counts["running"] != 1 || v.Group.Counts["failed"] != 1 {
			t.Errorf("got %+v", v)
		}
	})

	t.Run("show", func(t *testing.T) {
		got := decode[taskOut](t, run(t, "show", "-json", fmt.Sprint(f.ids["failed"])))
		if compact(t, got.Payload) != `{"to":"a@example.com"}` || len(got.History) != 2 || got.History[0].Error != "dial smtp: i/o timeout" ||
			got.History[1].DurationMS != 42000 || got.Queue != "mail" {
			t.Errorf("show %+v", got)
		}
		got = decode[taskOut](t, run(t, "show", "-json", fmt.Sprint(f.ids["succeeded"])))
		if compact(t, got.Result) != `{"n":1}` || got.Group != "import" {
			t.Errorf("show %+v", got)
		}
		got = decode[taskOut](t, run(t, "show", "-json", fmt.Sprint(f.ids["unique"])))
		if got.UniqueKey != "nightly" || got.Priority != 5 || got.MaxAttempts != 3 {
			t.Errorf("show %+v", got)
		}
	})

	t.Run("groups", func(t *testing.T) {
		v := decode[struct {
			Groups []groupOut `json:"groups"`
		}](t, run(t, "groups", "-json"))
		want := map[string]int{"queued": 0, "running": 1, "succeeded": 1, "failed": 1, "cancelled": 1}
		if len(v.Groups) != 1 || v.Groups[0].Group != "import" || v.Groups[0].Total != 4 || !maps.Equal(v.Groups[0].Counts, want) {
			t.Errorf("groups %+v", v.Groups)
		}
	})
}

// TestBadInputChangesNothing checks that every refused command line exits 2
// (a bad command line) or 1 (a task that is not there or not in a state
// that allows it), names the problem, points at the command's own help
// when the line is bad, and leaves the database as it was.
func TestBadInputChangesNothing(t *testing.T) {
	f := newFixture(t)
	before := f.snapshot(t)
	id := func(name string) string { return fmt.Sprint(f.ids[name]) }
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"NOTFOUND show unknown id", []string{"show", "999"}, "no task with id 999"},
		{"show bad id", []string{"show", "abc"}, `task id "abc": want a positive whole number`},
		{"show two ids", []string{"show", "1", "2"}, "want one task ID"},
		{"tasks unknown state", []string{"tasks", "-state", "failed,done"}, `unknown state "done" (want queued, running, succeeded, failed or cancelled)`},
		{"tasks bad since", []string{"tasks", "-since", "yesterday"}, `-since: "yesterday": want an age`},
		{"tasks negative limit", []string{"tasks", "-limit", "-1"}, "-limit -1 must not be negative"},
		{"tasks unknown flag", []string{"tasks", "-status", "failed"}, "flag provided but not defined: -status"},
		{"retry ids and -failed", []string{"retry", "-failed", id("failed")}, "give task IDs or -failed, not both"},
		{"retry nothing", []string{"retry"}, "give task IDs, or -failed"},
		{"retry -job alone", []string{"retry", "-job", "send_mail", id("failed")}, "-job only goes with -failed"},
		{"NOTFOUND retry unknown id", []string{"retry", id("failed"), "999"}, "task 999: task not found"},
		{"NOTFOUND retry succeeded task", []string{"retry", id("failed"), id("succeeded")}, fmt.Sprintf("task %s is succeeded: not failed or cancelled", id("succeeded"))},
		{"NOTFOUND retry queued task", []string{"retry", id("queued")}, fmt.Sprintf("task %s is queued: not failed or cancelled", id("queued"))},
		{"NOTFOUND retry running task", []string{"retry", id("running")}, fmt.Sprintf("task %s is running: not failed or cancelled", id("running"))},
		{"purge no state", []string{"purge", "-keep", "1"}, "-state is required"},
		{"purge unknown state", []string{"purge", "-state", "done", "-keep", "1"}, `-state "done": want succeeded, failed or cancelled`},
		{"purge queued", []string{"purge", "-state", "queued", "-older-than", "1h"}, "queued and running tasks are never purged"},
		{"purge both limits", []string{"purge", "-state", "failed", "-older-than", "1h", "-keep", "5"}, "give -older-than or -keep, not both"},
		{"purge no limit", []string{"purge", "-state", "failed"}, "give -older-than AGE or -keep N"},
		{"purge keep zero", []string{"purge", "-state", "failed", "-keep", "0"}, "-keep 0: must be at least 1"},
		{"purge bad age", []string{"purge", "-state", "failed", "-older-than", "week"}, `age "week": want a duration such as 7d`},
		{"purge group with state", []string{"purge", "-group", "import", "-state", "failed"}, "-group takes no -state"},
		{"purge empty group", []string{"purge", "-group", ""}, "-group must name a group"},
		{"purge ungroup without group", []string{"purge", "-ungroup"}, "-group must name a group"},
		{"groups two names", []string{"groups", "a", "b"}, "want at most one GROUP"},
		{"status argument", []string{"status", "now"}, "status takes no arguments"},
		{"enqueue blank unique key", []string{"enqueue", "-unique", " ", "echo_test"}, "unique key is blank"},
		{"NOTFOUND cancel unknown id", []string{"cancel", id("queued"), "999"}, "task 999: task not found"},
		{"NOTFOUND cancel succeeded", []string{"cancel", id("queued"), id("succeeded")}, fmt.Sprintf("task %s succeeded: task already finished", id("succeeded"))},
		{"NOTFOUND groups unknown", []string{"groups", "nope"}, `group "nope" not found`},
		{"enqueue zero attempts", []string{"enqueue", "-max-attempts", "0", "echo_test"}, "-max-attempts 0: must be more than 0"},
		{"enqueue zero timeout", []string{"enqueue", "echo_test", "-timeout", "0s"}, "-timeout 0s: must be more than 0"},
		{"enqueue timeout without unit", []string{"enqueue", "-timeout", "5", "echo_test"}, "missing unit: write 5s, 5m or 5h"},
		{"schedule add zero attempts", []string{"schedule", "add", "-max-attempts", "0", "n", "echo_test", "hourly"}, "-max-attempts 0: must be more than 0"},
		{"retry dry run with ids", []string{"retry", "-dry-run", id("failed")}, "-dry-run only goes with -failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := f.run(t, nil, tt.args...)
			want, hint := 2, fmt.Sprintf("Run 'sluice %s -h' for usage.\n", tt.args[0])
			if tt.args[0] == "schedule" {
				hint = fmt.Sprintf("Run 'sluice schedule %s -h' for usage.\n", tt.args[1])
			}
			if strings.HasPrefix(tt.name, "NOTFOUND ") {
				want, hint = 1, ""
			}
			if code != want || !strings.Contains(errOut, tt.want) || out != "" {
				t.Errorf("exit %d, stderr %q, stdout %q; want exit %d naming %q", code, errOut, out, want, tt.want)
			}
			if !strings.HasSuffix(errOut, hint) {
				t.Errorf("stderr %q does not end with %q", errOut, hint)
			}
		})
	}
	if after := f.snapshot(t); after != before {
		t.Errorf("refused commands changed the database:\n--- before\n%s\n--- after\n%s", before, after)
	}
}
