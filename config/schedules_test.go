package config

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/schedule"
)

var declareNow = time.Date(2026, 3, 7, 15, 4, 5, 0, time.UTC)

func TestParseSchedules(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	ps, problems := ParseSchedules(`[
	  {"name": "nightly", "job": "report", "type": "daily", "start": "02:30", "zone": "Europe/Berlin",
	   "payload": { "kind" : "daily" }, "catch_up": "ALL", "no_overlap": true, "timeout": "5m", "repeats": 3},
	  {"name": "feeds", "job": "poll", "type": "minutes", "every": 15},
	  {"name": "mail", "job": "send", "type": "cron", "cron": "0 9 * * 1-5", "queue": "mail", "priority": 2}
	]`, declareNow, time.UTC, nil)
	if len(problems) > 0 {
		t.Fatalf("problems: %q", problems)
	}
	if len(ps) != 3 {
		t.Fatalf("got %d schedules; want 3", len(ps))
	}
	n := ps[0]
	if n.Spec.Type != schedule.Daily || !n.Spec.Start.Equal(time.Date(2026, 3, 7, 2, 30, 0, 0, berlin)) ||
		n.Spec.Location.String() != "Europe/Berlin" || string(n.Payload) != `{"kind":"daily"}` ||
		n.CatchUp != schedule.CatchUpAll || !n.NoOverlap || n.Timeout != 5*time.Minute || n.Repeats != 3 {
		t.Errorf("nightly = %+v", n)
	}
	if f := ps[1]; f.Spec.Every != 15 || !f.Spec.Start.IsZero() || f.Spec.Location != time.UTC {
		t.Errorf("feeds = %+v; want every 15, no start (kept across syncs), UTC", f)
	}
	if m := ps[2]; m.Spec.Cron != "0 9 * * 1-5" || m.Queue != "mail" || m.Priority != 2 {
		t.Errorf("mail = %+v", m)
	}
	// The definition ignores layout but not content.
	again, _ := ParseSchedules(`[{"job":"poll","name":"feeds","every":15,"type":"minutes"}]`, declareNow.Add(time.Hour), time.UTC, nil)
	if again[0].Definition != ps[1].Definition {
		t.Errorf("definitions differ for the same entry:\n%s\n%s", again[0].Definition, ps[1].Definition)
	}
	moved, _ := ParseSchedules(`[{"job":"poll","name":"feeds","every":15,"type":"minutes"}]`, declareNow, berlin, nil)
	if moved[0].Definition == ps[1].Definition {
		t.Error("a new SLUICE_TZ must change the definition of an entry without a zone")
	}
	if none, problems := ParseSchedules(" [ ] ", declareNow, time.UTC, nil); len(problems) > 0 || len(none) != 0 {
		t.Errorf("[] = %v, %q; want no schedules and no problems", none, problems)
	}
}

func TestParseSchedulesProblems(t *testing.T) {
	tests := []struct {
		name, text string
		want       []string // each must appear in one problem
	}{
		{"empty", ``, []string{"use [] to declare none"}},
		{"not an array", `{"name":"x"}`, []string{"want a JSON array"}},
		{"syntax", `[{"name":}]`, []string{"at byte"}},
		{"trailing", `[] x`, []string{"after the JSON array"}},
		{"unknown field", `[{"name":"a","job":"j","type":"hourly","evry":5}]`, []string{`unknown field "evry"`}},
		{"one entry's unknown field hides no other entry", `[{"name":"a","job":"j","type":"hourly","evry":5},{"name":"b","type":"hourly"},{"name":7}]`,
			[]string{`SLUICE_SCHEDULES[0] ("a"): json: unknown field "evry"`, `SLUICE_SCHEDULES[1] ("b"): job is missing`, `SLUICE_SCHEDULES[2]: name: want string`}},
		{"wrong type", `[{"name":"a","job":"j","type":"minutes","every":"5"}]`, []string{"every: want int"}},
		{"everything wrong", `[{"type":"weekly-ish","zone":"Mars/Base","start":"noonish","timeout":"soon","catch_up":"some","priority":-1,"max_attempts":-1,"repeats":-2}]`,
			[]string{"name is missing", "job is missing", `zone "Mars/Base"`, "unknown schedule type", `timeout "soon"`,
				`unknown catch-up policy "some"`, "priority -1", "max_attempts -1", "repeats -2"}},
		{"bad start", `[{"name":"a","job":"j","type":"daily","start":"25:99"}]`, []string{`start "25:99"`}},
		{"cron never fires", `[{"name":"a","job":"j","type":"cron","cron":"0 0 30 2 *"}]`, []string{`SLUICE_SCHEDULES[0] ("a"): cron line "0 0 30 2 *": never fires`}},
		{"cron panics the parser", `[{"name":"a","job":"j","type":"cron","cron":"TZ=UTC"}]`, []string{`cron line "TZ=UTC"`}},
		{"minutes without every", `[{"name":"a","job":"j","type":"minutes"}]`, []string{"interval must be at least one minute"}},
		{"local zone", `[{"name":"a","job":"j","type":"hourly","zone":"Local"}]`, []string{"not the machine's local zone"}},
		{"duplicate", `[{"name":"a","job":"j","type":"hourly"},{"name":"a","job":"k","type":"daily"}]`, []string{"SLUICE_SCHEDULES[1] (\"a\"): name also used by entry 0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps, problems := ParseSchedules(tt.text, declareNow, time.UTC, nil)
			if ps != nil {
				t.Errorf("schedules = %+v; want none with problems", ps)
			}
			all := strings.Join(problems, "\n")
			for _, w := range tt.want {
				if !strings.Contains(all, w) {
					t.Errorf("problems:\n%s\nwant one containing %q", all, w)
				}
			}
		})
	}
}

func TestParseStart(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	tests := []struct {
		in    string
		want  time.Time
		clock string
	}{
		{"2026-01-02T09:30:00Z", time.Date(2026, 1, 2, 9, 30, 0, 0, time.UTC), ""},
		{"2026-01-02T09:30:00+01:00", time.Date(2026, 1, 2, 8, 30, 0, 0, time.UTC), ""},
		{"2026-01-02 09:30", time.Date(2026, 1, 2, 9, 30, 0, 0, ny), ""},
		{"2026-07-02T09:30:15", time.Date(2026, 7, 2, 9, 30, 15, 0, ny), ""},
		{"2026-01-31", time.Date(2026, 1, 31, 0, 0, 0, 0, ny), ""},
		{"09:30", time.Date(2026, 3, 7, 9, 30, 0, 0, ny), ""}, // today in New York at declareNow
		// 02:30 does not exist that day: 03:30 EDT, keeping 02:30 for the days after.
		{"2027-03-14 02:30", time.Date(2027, 3, 14, 7, 30, 0, 0, time.UTC), "02:30:00"},
		{"2027-11-07 01:30", time.Date(2027, 11, 7, 5, 30, 0, 0, time.UTC), ""}, // twice: the first (EDT)
	}
	for _, tt := range tests {
		got, clock, err := ParseStart(tt.in, ny, declareNow)
		if err != nil || !got.Equal(tt.want) || clock != tt.clock {
			t.Errorf("ParseStart(%q) = %v, %q, %v; want %v, %q", tt.in, got, clock, err, tt.want, tt.clock)
		}
	}
}

// FuzzParseSchedules: no input panics, and whatever parses has a definition
// that parses again to the same definition.
func FuzzParseSchedules(f *testing.F) {
	for _, seed := range []string{
		``, `[]`, `[{}]`, `null`, `[null]`, `[{"name":"a","job":"j","type":"minutes","every":5}]`,
		`[{"name":"a","job":"j","type":"cron","cron":"CRON_TZ=Europe/Berlin 0 9 * * *"}]`,
		`[{"name":"a","job":"j","type":"cron","cron":"TZ="}]`,
		`[{"name":"a","job":"j","type":"daily","start":"24:00","zone":"America/New_York","payload":[1,{"x":null}]}]`,
		`[{"name":"a","job":"j","type":"monthly","start":"2024-02-29T23:59:59-12:00","repeats":2147483647,"every":0}]`,
		`[{"name":"a","job":"j","type":"cron","cron":"@every 1000000h"}]`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		watchdog := time.AfterFunc(3*time.Second, func() { panic(fmt.Sprintf("ParseSchedules(%q) takes over 3s", text)) })
		defer watchdog.Stop()
		ps, problems := ParseSchedules(text, declareNow, time.UTC, nil)
		if len(problems) > 0 && ps != nil {
			t.Fatalf("both schedules and problems: %v %q", ps, problems)
		}
		for _, p := range ps {
			again, problems := ParseSchedules("["+p.Definition+"]", declareNow, time.UTC, nil)
			if len(problems) > 0 || len(again) != 1 || again[0].Definition != p.Definition {
				t.Fatalf("definition %s does not parse back to itself: %q", p.Definition, problems)
			}
		}
	})
}
