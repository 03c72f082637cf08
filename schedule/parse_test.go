package schedule

import (
	"testing"
	"time"
)

func TestParseSpec(t *testing.T) {
	start := ts("2026-01-01T09:00:00Z")
	tests := []struct {
		name     string
		typ      string
		value    string
		loc      *time.Location
		want     Spec
		wantIs   error
		wantText string // empty: valid
	}{
		{
			name: "minutes", typ: "minutes", value: "15",
			want: Spec{Type: Minutes, Every: 15, Location: time.UTC, Start: start},
		},
		{
			name: "minutes with space and case", typ: "MINUTES", value: " 15 ", loc: berlin,
			want: Spec{Type: Minutes, Every: 15, Location: berlin, Start: start},
		},
		{
			name: "cron", typ: "cron", value: "CRON_TZ=Europe/Berlin 0 9 * * 1-5", loc: newYork,
			want: Spec{Type: Cron, Cron: "CRON_TZ=Europe/Berlin 0 9 * * 1-5", Location: newYork, Start: start},
		},
		{
			name: "daily", typ: "daily", loc: newYork,
			want: Spec{Type: Daily, Location: newYork, Start: start},
		},
		{name: "unknown type", typ: "fortnightly", wantIs: ErrUnknownType, wantText: "fortnightly"},
		{name: "minutes empty", typ: "minutes", wantText: `every "" is not a whole number of minutes`},
		{name: "minutes fraction", typ: "minutes", value: "1.5", wantText: "not a whole number"},
		{name: "minutes 0", typ: "minutes", value: "0", wantIs: ErrInterval, wantText: "every=0"},
		{name: "minutes -1", typ: "minutes", value: "-1", wantIs: ErrInterval, wantText: "every=-1"},
		{name: "cron empty", typ: "cron", wantText: "empty"},
		{name: "cron never fires", typ: "cron", value: "0 0 30 2 *", wantIs: ErrNeverFires, wantText: "never fires"},
		{name: "cron every 10s", typ: "cron", value: "@every 10s", wantIs: ErrInterval, wantText: "at least one minute"},
		{name: "value for daily", typ: "daily", value: "5", wantText: `daily schedule takes no value, got "5"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSpec(tt.typ, tt.value, start, tt.loc)
			checkErr(t, err, tt.wantIs, tt.wantText)
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	t.Run("no start", func(t *testing.T) {
		_, err := ParseSpec("weekly", "", time.Time{}, nil)
		checkErr(t, err, ErrNoStart, "start time is required")
	})
}

// FuzzParseSpec checks that no input panics, and that a spec that parses is
// valid and fires after any time.
func FuzzParseSpec(f *testing.F) {
	for _, seed := range [][2]string{
		{"minutes", "15"}, {"minutes", "0"}, {"minutes", "-1"}, {"minutes", "99999999999999999999"},
		{"minutes", "153722867"}, {"minutes", "153722868"}, {"Minutes", " 7 "},
		{"cron", "TZ=UTC"}, {"cron", "CRON_TZ="}, {"cron", "0 0 30 2 *"}, {"cron", "@every 10s"},
		{"cron", "CRON_TZ=America/New_York 30 2 * * *"}, {"cron", "TZ=UTC TZ=UTC * * * * *"},
		{"cron", "*/0 * * * *"}, {"cron", "@every 1m0.5s"}, {"CRON", "@daily"},
		{"once", ""}, {"daily", ""}, {"daily", "x"}, {"yearly", ""}, {"", ""}, {"nope", "1"},
	} {
		f.Add(seed[0], seed[1], int64(0))
	}
	f.Fuzz(func(t *testing.T, typ, value string, offset int64) {
		start := ts("2026-03-08T02:30:00-05:00").Add(time.Duration(offset%(100*365*24)) * time.Hour)
		s, err := ParseSpec(typ, value, start, newYork)
		if err != nil {
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("ParseSpec gave a spec that does not validate: %v", err)
		}
		after := start.Add(-time.Hour)
		next := s.Next(after)
		if next.IsZero() || !next.After(after) {
			t.Fatalf("Next(%s) = %s, want a time after it", fmtTime(after), fmtTime(next))
		}
		if again := s.Next(next); s.Type != Once && !again.After(next) {
			t.Fatalf("Next(%s) = %s, want a time after it", fmtTime(next), fmtTime(again))
		}
	})
}
