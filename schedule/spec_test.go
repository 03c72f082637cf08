package schedule

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseType(t *testing.T) {
	tests := []struct {
		in      string
		want    Type
		wantErr bool
	}{
		{"once", Once, false},
		{"minutes", Minutes, false},
		{"Hourly", Hourly, false},
		{" DAILY ", Daily, false},
		{"weekly", Weekly, false},
		{"biweekly", Biweekly, false},
		{"monthly", Monthly, false},
		{"bimonthly", Bimonthly, false},
		{"quarterly", Quarterly, false},
		{"yearly", Yearly, false},
		{"cron", Cron, false},
		{"", "", true},
		{"fortnightly", "", true},
		{"D", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseType(tt.in)
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("got error %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				if !errors.Is(err, ErrUnknownType) {
					t.Errorf("got %v, want ErrUnknownType", err)
				}
				// The error lists the valid types.
				if msg := err.Error(); !strings.Contains(msg, "once, minutes, hourly") || !strings.Contains(msg, "cron") {
					t.Errorf("error %q does not list the valid types", msg)
				}
			}
		})
	}
}

func TestNext(t *testing.T) {
	type step struct{ after, want string }
	tests := []struct {
		name  string
		spec  Spec
		steps []step // each checks Next(after) == want; "" means the zero time
	}{
		{
			name: "once",
			spec: Spec{Type: Once, Start: ts("2026-05-01T10:00:00Z")},
			steps: []step{
				{"2026-04-30T00:00:00Z", "2026-05-01T10:00:00Z"},
				{"2026-05-01T09:59:59.999Z", "2026-05-01T10:00:00Z"},
				{"2026-05-01T10:00:00Z", ""},
				{"2027-01-01T00:00:00Z", ""},
			},
		},
		{
			name: "minutes",
			spec: Spec{Type: Minutes, Every: 15, Start: ts("2026-01-01T00:00:00Z")},
			steps: []step{
				{"2025-12-01T00:00:00Z", "2026-01-01T00:00:00Z"},
				{"2026-01-01T00:00:00Z", "2026-01-01T00:15:00Z"},
				{"2026-01-01T00:07:00Z", "2026-01-01T00:15:00Z"},
				{"2026-01-01T00:14:59.999999999Z", "2026-01-01T00:15:00Z"},
				// Three years behind: computed, not walked.
				{"2029-01-01T00:00:01Z", "2029-01-01T00:15:00Z"},
			},
		},
		{
			name: "minutes keeps start's fraction of a second",
			spec: Spec{Type: Minutes, Every: 1, Start: ts("2026-01-01T12:00:00.5Z")},
			steps: []step{
				{"2026-01-01T12:01:00.4Z", "2026-01-01T12:01:00.5Z"},
				{"2026-01-01T12:01:00.5Z", "2026-01-01T12:02:00.5Z"},
			},
		},
		{
			name: "minutes across new york spring forward is absolute",
			spec: Spec{Type: Minutes, Every: 30, Location: newYork, Start: ts("2026-03-08T01:00:00-05:00")},
			steps: []step{
				{"2026-03-08T01:45:00-05:00", "2026-03-08T03:00:00-04:00"},
			},
		},
		{
			name: "minutes across new york fall back is absolute",
			spec: Spec{Type: Minutes, Every: 30, Location: newYork, Start: ts("2026-11-01T01:00:00-04:00")},
			steps: []step{
				{"2026-11-01T01:30:00-04:00", "2026-11-01T01:00:00-05:00"},
				{"2026-11-01T01:00:00-05:00", "2026-11-01T01:30:00-05:00"},
			},
		},
		{
			name: "hourly",
			spec: Spec{Type: Hourly, Start: ts("2026-01-01T00:30:00Z")},
			steps: []step{
				{"2026-01-01T00:30:00Z", "2026-01-01T01:30:00Z"},
				{"2026-06-15T12:00:00Z", "2026-06-15T12:30:00Z"},
			},
		},
		{
			name: "hourly across berlin spring forward is absolute",
			spec: Spec{Type: Hourly, Location: berlin, Start: ts("2026-03-29T00:30:00+01:00")},
			steps: []step{
				{"2026-03-29T01:30:00+01:00", "2026-03-29T03:30:00+02:00"},
			},
		},
		{
			name: "daily",
			spec: Spec{Type: Daily, Start: ts("2026-01-01T09:00:00Z")},
			steps: []step{
				{"2025-06-01T00:00:00Z", "2026-01-01T09:00:00Z"},
				{"2026-01-01T09:00:00Z", "2026-01-02T09:00:00Z"},
				{"2026-02-28T10:00:00Z", "2026-03-01T09:00:00Z"},
				{"2028-02-28T09:00:00Z", "2028-02-29T09:00:00Z"},
			},
		},
		{
			name: "daily keeps wall-clock time in new york",
			spec: Spec{Type: Daily, Location: newYork, Start: ts("2026-03-01T09:00:00-05:00")},
			steps: []step{
				{"2026-03-07T09:00:00-05:00", "2026-03-08T09:00:00-04:00"},
				{"2026-10-31T09:00:00-04:00", "2026-11-01T09:00:00-05:00"},
			},
		},
		{
			name: "daily in new york spring forward gap",
			spec: Spec{Type: Daily, Location: newYork, Start: ts("2026-03-01T02:30:00-05:00")},
			steps: []step{
				{"2026-03-07T02:30:00-05:00", "2026-03-08T03:30:00-04:00"},
				{"2026-03-08T01:59:00-05:00", "2026-03-08T03:30:00-04:00"},
				{"2026-03-08T03:00:00-04:00", "2026-03-08T03:30:00-04:00"},
				{"2026-03-08T03:30:00-04:00", "2026-03-09T02:30:00-04:00"},
			},
		},
		{
			name: "daily in new york fall back repeat",
			spec: Spec{Type: Daily, Location: newYork, Start: ts("2026-10-25T01:30:00-04:00")},
			steps: []step{
				{"2026-10-31T01:30:00-04:00", "2026-11-01T01:30:00-04:00"},
				// Once only: not again at 01:30 EST.
				{"2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"},
			},
		},
		{
			name: "daily in berlin spring forward gap",
			spec: Spec{Type: Daily, Location: berlin, Start: ts("2026-03-22T02:30:00+01:00")},
			steps: []step{
				{"2026-03-28T02:30:00+01:00", "2026-03-29T03:30:00+02:00"},
				{"2026-03-29T03:30:00+02:00", "2026-03-30T02:30:00+02:00"},
			},
		},
		{
			name: "daily in berlin fall back repeat",
			spec: Spec{Type: Daily, Location: berlin, Start: ts("2026-10-18T02:30:00+02:00")},
			steps: []step{
				{"2026-10-24T02:30:00+02:00", "2026-10-25T02:30:00+02:00"},
				{"2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"},
			},
		},
		{
			name: "daily reads start in location",
			// 03:00 UTC is 22:00 the day before in New York (EST).
			spec: Spec{Type: Daily, Location: newYork, Start: ts("2026-01-10T03:00:00Z")},
			steps: []step{
				{"2026-01-10T03:00:00Z", "2026-01-10T22:00:00-05:00"},
				{"2026-07-10T12:00:00Z", "2026-07-10T22:00:00-04:00"},
			},
		},
		{
			name: "weekly",
			spec: Spec{Type: Weekly, Start: ts("2020-01-06T09:00:00Z")}, // a Monday
			steps: []step{
				{"2020-01-06T09:00:00Z", "2020-01-13T09:00:00Z"},
				{"2026-05-12T12:00:00Z", "2026-05-18T09:00:00Z"},
				{"2026-05-18T08:59:59Z", "2026-05-18T09:00:00Z"},
			},
		},
		{
			name: "weekly in new york spring forward gap",
			spec: Spec{Type: Weekly, Location: newYork, Start: ts("2026-03-01T02:30:00-05:00")},
			steps: []step{
				{"2026-03-01T02:30:00-05:00", "2026-03-08T03:30:00-04:00"},
				{"2026-03-08T03:30:00-04:00", "2026-03-15T02:30:00-04:00"},
			},
		},
		{
			name: "weekly in new york fall back repeat",
			spec: Spec{Type: Weekly, Location: newYork, Start: ts("2026-10-25T01:30:00-04:00")},
			steps: []step{
				{"2026-10-25T01:30:00-04:00", "2026-11-01T01:30:00-04:00"},
				{"2026-11-01T01:30:00-04:00", "2026-11-08T01:30:00-05:00"},
			},
		},
		{
			name: "weekly in berlin",
			spec: Spec{Type: Weekly, Location: berlin, Start: ts("2026-03-22T02:30:00+01:00")},
			steps: []step{
				{"2026-03-22T02:30:00+01:00", "2026-03-29T03:30:00+02:00"},
				{"2026-10-18T02:30:00+02:00", "2026-10-25T02:30:00+02:00"},
				{"2026-10-25T02:30:00+02:00", "2026-11-01T02:30:00+01:00"},
			},
		},
		{
			name: "biweekly",
			spec: Spec{Type: Biweekly, Start: ts("2026-01-05T09:00:00Z")},
			steps: []step{
				{"2026-01-05T09:00:00Z", "2026-01-19T09:00:00Z"},
				{"2026-01-12T09:00:00Z", "2026-01-19T09:00:00Z"},
				{"2026-01-19T09:00:00Z", "2026-02-02T09:00:00Z"},
			},
		},
		{
			name: "monthly from the 31st clamps without drift",
			spec: Spec{Type: Monthly, Start: ts("2026-01-31T10:00:00Z")},
			steps: []step{
				{"2026-01-31T10:00:00Z", "2026-02-28T10:00:00Z"},
				{"2026-02-28T10:00:00Z", "2026-03-31T10:00:00Z"},
				{"2026-03-31T10:00:00Z", "2026-04-30T10:00:00Z"},
				{"2026-04-30T10:00:00Z", "2026-05-31T10:00:00Z"},
				{"2026-11-30T10:00:00Z", "2026-12-31T10:00:00Z"},
				{"2027-12-31T10:00:00Z", "2028-01-31T10:00:00Z"},
				{"2028-01-31T10:00:00Z", "2028-02-29T10:00:00Z"},
				{"2030-06-15T00:00:00Z", "2030-06-30T10:00:00Z"},
			},
		},
		{
			name: "monthly from the 30th",
			spec: Spec{Type: Monthly, Start: ts("2026-01-30T00:00:00Z")},
			steps: []step{
				{"2026-01-30T00:00:00Z", "2026-02-28T00:00:00Z"},
				{"2026-02-28T00:00:00Z", "2026-03-30T00:00:00Z"},
			},
		},
		{
			name: "monthly in new york spring forward gap",
			spec: Spec{Type: Monthly, Location: newYork, Start: ts("2026-02-08T02:30:00-05:00")},
			steps: []step{
				{"2026-02-08T02:30:00-05:00", "2026-03-08T03:30:00-04:00"},
				{"2026-03-08T03:30:00-04:00", "2026-04-08T02:30:00-04:00"},
			},
		},
		{
			name: "bimonthly",
			spec: Spec{Type: Bimonthly, Start: ts("2025-12-31T00:00:00Z")},
			steps: []step{
				{"2025-12-31T00:00:00Z", "2026-02-28T00:00:00Z"},
				{"2026-02-28T00:00:00Z", "2026-04-30T00:00:00Z"},
				{"2026-04-30T00:00:00Z", "2026-06-30T00:00:00Z"},
				{"2026-06-30T00:00:00Z", "2026-08-31T00:00:00Z"},
				{"2026-03-15T00:00:00Z", "2026-04-30T00:00:00Z"},
			},
		},
		{
			name: "quarterly",
			spec: Spec{Type: Quarterly, Start: ts("2026-08-31T08:00:00Z")},
			steps: []step{
				{"2026-08-31T08:00:00Z", "2026-11-30T08:00:00Z"},
				{"2026-11-30T08:00:00Z", "2027-02-28T08:00:00Z"},
				{"2027-02-28T08:00:00Z", "2027-05-31T08:00:00Z"},
				{"2027-12-01T00:00:00Z", "2028-02-29T08:00:00Z"},
			},
		},
		{
			name: "yearly from february 29",
			spec: Spec{Type: Yearly, Start: ts("2024-02-29T12:00:00Z")},
			steps: []step{
				{"2024-02-29T12:00:00Z", "2025-02-28T12:00:00Z"},
				{"2025-02-28T12:00:00Z", "2026-02-28T12:00:00Z"},
				{"2027-02-28T12:00:00Z", "2028-02-29T12:00:00Z"},
				{"2099-03-01T00:00:00Z", "2100-02-28T12:00:00Z"}, // 2100 is not a leap year
			},
		},
		{
			name: "yearly",
			spec: Spec{Type: Yearly, Location: berlin, Start: ts("2020-10-25T02:30:00+01:00")},
			steps: []step{
				// 02:30 on 2026-10-25 happens twice in Berlin: the first.
				{"2026-01-01T00:00:00Z", "2026-10-25T02:30:00+02:00"},
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
					var want time.Time
					if st.want != "" {
						want = ts(st.want)
					}
					got := tt.spec.Next(ts(st.after))
					checkTime(t, got, want)
					if !got.IsZero() && got.Location() != tt.spec.location() {
						t.Errorf("got location %v, want %v", got.Location(), tt.spec.location())
					}
				})
			}
		})
	}
}

// TestNextSequence walks a year of due times one by one and checks them
// against the closed form, in zones with DST: strictly increasing, never
// more than one per wall-clock day for daily schedules.
func TestNextSequence(t *testing.T) {
	for _, loc := range []*time.Location{newYork, berlin} {
		for _, clock := range []string{"00:00", "01:30", "02:30", "23:59"} {
			t.Run(loc.String()+" "+clock, func(t *testing.T) {
				start, err := time.ParseInLocation("2006-01-02 15:04", "2026-01-01 "+clock, loc)
				if err != nil {
					t.Fatal(err)
				}
				s := Spec{Type: Daily, Location: loc, Start: start}
				prev := start
				for i := range 365 {
					got := s.Next(prev)
					if !got.After(prev) {
						t.Fatalf("step %d: got %s, not after %s", i, fmtTime(got), fmtTime(prev))
					}
					wantDay := start.AddDate(0, 0, i+1)
					if y, m, d := got.Date(); y != wantDay.Year() || m != wantDay.Month() || d != wantDay.Day() {
						t.Fatalf("step %d: got %s, want date %s", i, fmtTime(got), wantDay.Format(time.DateOnly))
					}
					prev = got
				}
			})
		}
	}
}

func TestValidate(t *testing.T) {
	start := ts("2026-01-01T00:00:00Z")
	tests := []struct {
		name     string
		spec     Spec
		wantIs   error  // nil: no sentinel to check
		wantText string // empty: valid
	}{
		{"once", Spec{Type: Once, Start: start}, nil, ""},
		{"minutes", Spec{Type: Minutes, Every: 1, Start: start}, nil, ""},
		{"nil location is utc", Spec{Type: Daily, Start: start}, nil, ""},
		{"cron without start", Spec{Type: Cron, Cron: "@daily"}, nil, ""},
		{"unknown type", Spec{Type: "fortnightly", Start: start}, ErrUnknownType, `unknown schedule type "fortnightly"`},
		{"empty type", Spec{Start: start}, ErrUnknownType, "unknown schedule type"},
		{"uppercase type", Spec{Type: "Daily", Start: start}, ErrUnknownType, "unknown schedule type"},
		{"minutes 0", Spec{Type: Minutes, Every: 0, Start: start}, ErrInterval, "every=0"},
		{"minutes -1", Spec{Type: Minutes, Every: -1, Start: start}, ErrInterval, "every=-1"},
		{"minutes too many", Spec{Type: Minutes, Every: 1 << 62, Start: start}, nil, "above the maximum"},
		{"no start", Spec{Type: Daily}, ErrNoStart, "daily schedule: start time is required"},
		{"once without start", Spec{Type: Once}, ErrNoStart, "start time is required"},
		{"every on daily", Spec{Type: Daily, Every: 5, Start: start}, nil, "every=5 is only for minutes"},
		{"cron line on hourly", Spec{Type: Hourly, Cron: "@hourly", Start: start}, nil, "only for cron"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErr(t, tt.spec.Validate(), tt.wantIs, tt.wantText)
		})
	}
}

// checkErr checks that err is nil when wantText is empty, and otherwise that
// it contains wantText and matches wantIs (when not nil).
func checkErr(tb testing.TB, err, wantIs error, wantText string) {
	tb.Helper()
	if wantText == "" {
		if err != nil {
			tb.Errorf("got error %v, want none", err)
		}
		return
	}
	if err == nil {
		tb.Fatalf("got no error, want %q", wantText)
	}
	if !strings.Contains(err.Error(), wantText) {
		tb.Errorf("got error %q, want it to contain %q", err, wantText)
	}
	if wantIs != nil && !errors.Is(err, wantIs) {
		tb.Errorf("got error %v, want errors.Is %v", err, wantIs)
	}
}
