package schedule

import (
	"errors"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
)

// TestRobfigDST records what robfig/cron does on its own across DST, the
// behaviour cronSeq corrects. If an upgrade changes it, revisit cronSeq.
func TestRobfigDST(t *testing.T) {
	tests := []struct {
		name, line, after, want string
	}{
		// Spring forward: 02:30 does not exist on 2026-03-08; robfig skips the day.
		{"gap skipped", "30 2 * * *", "2026-03-07T02:30:00-05:00", "2026-03-09T02:30:00-04:00"},
		// Fall back: 01:30 happens twice on 2026-11-01; robfig fires at both.
		{"repeat fires twice", "30 1 * * *", "2026-11-01T01:30:00-04:00", "2026-11-01T01:30:00-05:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sched, err := cron.ParseStandard(tt.line)
			if err != nil {
				t.Fatal(err)
			}
			checkTime(t, sched.Next(ts(tt.after).In(newYork)), ts(tt.want))
		})
	}
	t.Run("never fires is the zero time", func(t *testing.T) {
		sched, err := cron.ParseStandard("0 0 30 2 *")
		if err != nil {
			t.Fatal(err)
		}
		if got := sched.Next(ts("2026-01-01T00:00:00Z")); !got.IsZero() {
			t.Errorf("got %s, want zero", fmtTime(got))
		}
	})
	t.Run("zone prefix without schedule panics", func(t *testing.T) {
		defer func() {
			if recover() == nil {
				t.Error("got no panic; parseCron's own prefix handling may be unneeded now")
			}
		}()
		_, _ = cron.ParseStandard("TZ=UTC")
	})
}

func TestCronNext(t *testing.T) {
	type step struct{ after, want string }
	tests := []struct {
		name  string
		spec  Spec
		steps []step
	}{
		{
			name: "weekdays",
			spec: Spec{Type: Cron, Cron: "0 9 * * 1-5"},
			steps: []step{
				{"2026-05-15T09:00:00Z", "2026-05-18T09:00:00Z"}, // Friday to Monday
				{"2026-05-18T08:59:59.5Z", "2026-05-18T09:00:00Z"},
			},
		},
		{
			name: "start is a lower bound",
			spec: Spec{Type: Cron, Cron: "0 9 * * *", Start: ts("2026-06-01T09:00:00Z")},
			steps: []step{
				{"2026-01-01T00:00:00Z", "2026-06-01T09:00:00Z"},
				{"2026-06-01T09:00:00Z", "2026-06-02T09:00:00Z"},
			},
		},
		{
			name: "start between matches",
			spec: Spec{Type: Cron, Cron: "0 9 * * *", Start: ts("2026-06-01T09:00:00.5Z")},
			steps: []step{
				{"2026-01-01T00:00:00Z", "2026-06-02T09:00:00Z"},
			},
		},
		{
			name: "location",
			spec: Spec{Type: Cron, Cron: "0 9 * * *", Location: newYork},
			steps: []step{
				{"2026-03-07T09:00:00-05:00", "2026-03-08T09:00:00-04:00"},
			},
		},
		{
			name: "new york spring forward gap",
			spec: Spec{Type: Cron, Cron: "30 2 * * *", Location: newYork},
			steps: []step{
				{"2026-03-07T02:30:00-05:00", "2026-03-08T03:30:00-04:00"},
				{"2026-03-08T01:59:00-05:00", "2026-03-08T03:30:00-04:00"},
				{"2026-03-08T03:10:00-04:00", "2026-03-08T03:30:00-04:00"},
				{"2026-03-08T03:30:00-04:00", "2026-03-09T02:30:00-04:00"},
			},
		},
		{
			name: "new york gap start",
			spec: Spec{Type: Cron, Cron: "0 2 * * *", Location: newYork},
			steps: []step{
				{"2026-03-07T02:00:00-05:00", "2026-03-08T03:00:00-04:00"},
			},
		},
		{
			name: "new york gap every half hour",
			spec: Spec{Type: Cron, Cron: "*/30 * * * *", Location: newYork},
			steps: []step{
				// 02:00 and 02:30 shift onto 03:00 and 03:30, which also match.
				{"2026-03-08T01:30:00-05:00", "2026-03-08T03:00:00-04:00"},
				{"2026-03-08T03:00:00-04:00", "2026-03-08T03:30:00-04:00"},
			},
		},
		{
			name: "new york fall back repeat",
			spec: Spec{Type: Cron, Cron: "30 1 * * *", Location: newYork},
			steps: []step{
				{"2026-10-31T01:30:00-04:00", "2026-11-01T01:30:00-04:00"},
				{"2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"},
				{"2026-11-01T01:00:00-05:00", "2026-11-02T01:30:00-05:00"},
			},
		},
		{
			name: "new york fall back every half hour",
			spec: Spec{Type: Cron, Cron: "*/30 * * * *", Location: newYork},
			steps: []step{
				{"2026-11-01T01:00:00-04:00", "2026-11-01T01:30:00-04:00"},
				// 01:00 and 01:30 EST repeat wall-clock times that already fired.
				{"2026-11-01T01:30:00-04:00", "2026-11-01T02:00:00-05:00"},
			},
		},
		{
			name: "repeat before start fires",
			// The first 01:30 is before Start, so the second one is the first
			// occurrence on or after Start.
			spec: Spec{Type: Cron, Cron: "30 1 * * *", Location: newYork, Start: ts("2026-11-01T01:00:00-05:00")},
			steps: []step{
				{"2026-10-01T00:00:00Z", "2026-11-01T01:30:00-05:00"},
			},
		},
		{
			name: "berlin spring forward gap",
			spec: Spec{Type: Cron, Cron: "30 2 * * *", Location: berlin},
			steps: []step{
				{"2026-03-28T02:30:00+01:00", "2026-03-29T03:30:00+02:00"},
				{"2026-03-29T03:30:00+02:00", "2026-03-30T02:30:00+02:00"},
			},
		},
		{
			name: "berlin fall back repeat",
			spec: Spec{Type: Cron, Cron: "30 2 * * *", Location: berlin},
			steps: []step{
				{"2026-10-24T02:30:00+02:00", "2026-10-25T02:30:00+02:00"},
				{"2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"},
			},
		},
		{
			name: "cron_tz prefix overrides location",
			spec: Spec{Type: Cron, Cron: "CRON_TZ=Europe/Berlin 30 2 * * *", Location: newYork},
			steps: []step{
				{"2026-03-28T02:30:00+01:00", "2026-03-29T03:30:00+02:00"},
				{"2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"},
			},
		},
		{
			name: "tz prefix",
			spec: Spec{Type: Cron, Cron: "TZ=America/New_York 0 9 * * *"},
			steps: []step{
				{"2026-07-01T00:00:00Z", "2026-07-01T09:00:00-04:00"},
			},
		},
		{
			name: "daily descriptor",
			spec: Spec{Type: Cron, Cron: "@daily", Location: newYork},
			steps: []step{
				{"2026-03-07T00:00:00-05:00", "2026-03-08T00:00:00-05:00"},
				{"2026-03-08T00:00:00-05:00", "2026-03-09T00:00:00-04:00"},
			},
		},
		{
			name: "every counts from start",
			spec: Spec{Type: Cron, Cron: "@every 90m", Start: ts("2026-01-01T00:10:00Z")},
			steps: []step{
				{"2026-01-01T02:00:00Z", "2026-01-01T03:10:00Z"},
				// 1096 days later is 17536 periods of 90 minutes: on the grid.
				{"2029-01-01T00:00:00Z", "2029-01-01T00:10:00Z"},
				{"2029-01-01T00:10:00Z", "2029-01-01T01:40:00Z"},
			},
		},
		{
			name: "every without start counts from midnight utc",
			spec: Spec{Type: Cron, Cron: "@every 15m", Location: newYork},
			steps: []step{
				{"2026-03-08T01:50:00-05:00", "2026-03-08T03:00:00-04:00"},
			},
		},
		{
			name: "february 29 beyond robfig's five years",
			spec: Spec{Type: Cron, Cron: "0 0 29 2 *"},
			steps: []step{
				{"2026-01-01T00:00:00Z", "2028-02-29T00:00:00Z"},
				{"2096-03-01T00:00:00Z", "2104-02-29T00:00:00Z"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.spec.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			for _, st := range tt.steps {
				t.Run(st.after, func(t *testing.T) {
					checkTime(t, tt.spec.Next(ts(st.after)), ts(st.want))
				})
			}
		})
	}
}

// TestCronOncePerWallClock walks a whole year of an hourly cron line in New
// York: every wall-clock hour fires exactly once, the skipped 02:00 at 03:00.
func TestCronOncePerWallClock(t *testing.T) {
	s := Spec{Type: Cron, Cron: "0 * * * *", Location: newYork}
	seen := map[string]int{}
	from := ts("2026-01-01T00:00:00-05:00")
	to := ts("2027-01-01T00:00:00-05:00")
	n := 0
	for got := s.Next(from.Add(-time.Second)); got.Before(to); got = s.Next(got) {
		seen[got.Format("2006-01-02 15:04")]++
		n++
	}
	// 365 days of 24 hours, less the one hour 02:00 shifted onto 03:00.
	if got, want := n, 365*24-1; got != want {
		t.Errorf("got %d fires, want %d", got, want)
	}
	for wall, count := range seen {
		if count != 1 {
			t.Errorf("%s fired %d times, want 1", wall, count)
		}
	}
}

func TestCronValidate(t *testing.T) {
	tests := []struct {
		name     string
		line     string
		wantIs   error
		wantText string // empty: valid
	}{
		{"five fields", "0 9 * * 1-5", nil, ""},
		{"descriptor", "@weekly", nil, ""},
		{"every a minute", "@every 1m", nil, ""},
		{"every with seconds", "@every 1m30s", nil, ""},
		{"zone prefix", "CRON_TZ=Europe/Berlin 0 9 * * *", nil, ""},
		{"tz prefix", "TZ=UTC @daily", nil, ""},
		{"surrounding space", "  0 9 * * *  ", nil, ""},
		{"february 29", "0 0 29 2 *", nil, ""},
		{"february 30", "0 0 30 2 *", ErrNeverFires, "never fires"},
		{"april 31", "0 0 31 4 *", ErrNeverFires, "never fires"},
		{"tz without schedule", "TZ=UTC", nil, "needs a zone and then a schedule"},
		{"cron_tz alone", "CRON_TZ=", nil, "needs a zone and then a schedule"},
		{"cron_tz without zone", "CRON_TZ= 0 9 * * *", nil, "needs a zone name"},
		{"unknown zone", "CRON_TZ=Mars/Olympus 0 9 * * *", nil, "time zone"},
		{"local zone", "CRON_TZ=Local 0 9 * * *", nil, "depends on the host"},
		{"two prefixes", "CRON_TZ=UTC TZ=Europe/Berlin 0 9 * * *", nil, "more than one time zone prefix"},
		{"tab after zone", "CRON_TZ=UTC\t0 9 * * *", nil, ""},
		{"empty", "", nil, `cron line "": empty`},
		{"blank", "   ", nil, "empty"},
		{"garbage", "garbage", nil, "expected exactly 5 fields"},
		{"six fields", "0 0 9 * * *", nil, "expected exactly 5 fields"},
		{"out of range", "60 * * * *", nil, "above maximum"},
		{"day of week 7", "0 0 * * 7", nil, "above maximum"},
		{"zero step", "*/0 * * * *", nil, "step"},
		{"unknown descriptor", "@reboot", nil, "unrecognized descriptor"},
		{"every ten seconds", "@every 10s", ErrInterval, "@every 10s: interval must be at least one minute"},
		{"every zero", "@every 0s", ErrInterval, "at least one minute"},
		{"every negative", "@every -5m", ErrInterval, "at least one minute"},
		{"every fraction of a second", "@every 1m0.5s", nil, "whole number of seconds"},
		{"every without duration", "@every", nil, "@every"},
		{"every garbage", "@every soon", nil, "invalid duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Spec{Type: Cron, Cron: tt.line}.Validate()
			checkErr(t, err, tt.wantIs, tt.wantText)
			if err == nil {
				return
			}
			var cronErr *CronError
			if !errors.As(err, &cronErr) {
				t.Fatalf("got %T, want *CronError", err)
			}
			if cronErr.Line != tt.line {
				t.Errorf("got line %q, want %q", cronErr.Line, tt.line)
			}
		})
	}
}

func TestCronLast(t *testing.T) {
	t.Run("three years of minutes", func(t *testing.T) {
		seq, err := Spec{Type: Cron, Cron: "* * * * *"}.sequence()
		if err != nil {
			t.Fatal(err)
		}
		// A walk from 2023 would take 1.5 million steps; last looks back
		// from `to` instead.
		got := seq.last(ts("2023-01-01T00:00:00Z"), ts("2026-01-01T12:00:30Z"), 3)
		checkTimes(t, got, []time.Time{ts("2026-01-01T11:58:00Z"), ts("2026-01-01T11:59:00Z"), ts("2026-01-01T12:00:00Z")})
	})
	t.Run("sparse", func(t *testing.T) {
		seq, err := Spec{Type: Cron, Cron: "0 0 1 1 *"}.sequence()
		if err != nil {
			t.Fatal(err)
		}
		got := seq.last(ts("2020-01-01T00:00:00Z"), ts("2026-06-01T00:00:00Z"), 100)
		want := []time.Time{ // 2020-01-01 itself is `from`, excluded
			ts("2021-01-01T00:00:00Z"), ts("2022-01-01T00:00:00Z"), ts("2023-01-01T00:00:00Z"),
			ts("2024-01-01T00:00:00Z"), ts("2025-01-01T00:00:00Z"), ts("2026-01-01T00:00:00Z"),
		}
		checkTimes(t, got, want)
	})
	t.Run("nothing in range", func(t *testing.T) {
		seq, err := Spec{Type: Cron, Cron: "0 0 1 1 *"}.sequence()
		if err != nil {
			t.Fatal(err)
		}
		checkTimes(t, seq.last(ts("2026-01-01T00:00:00Z"), ts("2026-06-01T00:00:00Z"), 5), nil)
	})
}

// FuzzCron checks that no cron line panics, and that a valid one gives due
// times strictly after the time asked about.
func FuzzCron(f *testing.F) {
	for _, line := range []string{
		"0 9 * * 1-5", "@daily", "@every 5m", "@every 10s", "@every -1m", "@every 1m0.5s",
		"0 0 30 2 *", "0 0 29 2 *", "TZ=UTC", "CRON_TZ=", "CRON_TZ= ", "CRON_TZ= * * * * *", "TZ=UTC TZ=UTC * * * * *",
		"CRON_TZ=America/New_York 30 2 * * *", "CRON_TZ=Europe/Berlin */7 1-3 * * *", "CRON_TZ=../../etc/passwd * * * * *",
		"*/0 * * * *", "1-2-3 * * * *", "* * * * * *", "60 24 32 13 7", "@every", "@", "garbage", "",
	} {
		f.Add(line, int64(0))
	}
	f.Fuzz(func(t *testing.T, line string, offset int64) {
		s := Spec{Type: Cron, Cron: line, Location: newYork}
		if s.Validate() != nil {
			return
		}
		// Somewhere within about 50 years of 2026.
		after := ts("2026-03-08T01:00:00-05:00").Add(time.Duration(offset%(50*365*24)) * time.Hour)
		next := s.Next(after)
		if !next.IsZero() && !next.After(after) {
			t.Fatalf("Next(%s) = %s, not after it", fmtTime(after), fmtTime(next))
		}
		if next.IsZero() {
			return
		}
		if again := s.Next(next); !again.IsZero() && !again.After(next) {
			t.Fatalf("Next(%s) = %s, not after it", fmtTime(next), fmtTime(again))
		}
	})
}
