package schedule

import (
	"testing"
	"time"
)

func TestParseCatchUp(t *testing.T) {
	tests := []struct {
		in      string
		want    CatchUp
		wantErr bool
	}{
		{"one", CatchUpOne, false},
		{"ALL", CatchUpAll, false},
		{" none ", CatchUpNone, false},
		{"", "", true},
		{"some", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseCatchUp(tt.in)
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Errorf("got error %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestDue(t *testing.T) {
	// Every 10 minutes; the last run was at 12:00, so 12:10 is stored.
	tenMinutes := Spec{Type: Minutes, Every: 10, Start: ts("2026-01-01T00:00:00Z")}
	// Daily at 09:00, down for three days: due on the 5th, back on the 8th.
	daily := Spec{Type: Daily, Start: ts("2026-01-01T09:00:00Z")}
	// Every half hour in New York across fall back.
	halfHour := Spec{Type: Cron, Cron: "*/30 * * * *", Location: newYork}
	once := Spec{Type: Once, Start: ts("2026-01-01T12:00:00Z")}

	tests := []struct {
		name      string
		spec      Spec
		next, now string
		policy    CatchUp
		opts      DueOpts
		want      []string
		wantAfter string // "" means the zero time
	}{
		{
			name: "all fires every missed time", spec: tenMinutes, policy: CatchUpAll,
			next: "2026-01-01T12:10:00Z", now: "2026-01-01T13:00:30Z",
			want: []string{
				"2026-01-01T12:10:00Z", "2026-01-01T12:20:00Z", "2026-01-01T12:30:00Z",
				"2026-01-01T12:40:00Z", "2026-01-01T12:50:00Z", "2026-01-01T13:00:00Z",
			},
			wantAfter: "2026-01-01T13:10:00Z",
		},
		{
			name: "all keeps the most recent max", spec: tenMinutes, policy: CatchUpAll, opts: DueOpts{Max: 3},
			next: "2026-01-01T12:10:00Z", now: "2026-01-01T13:00:30Z",
			want:      []string{"2026-01-01T12:40:00Z", "2026-01-01T12:50:00Z", "2026-01-01T13:00:00Z"},
			wantAfter: "2026-01-01T13:10:00Z",
		},
		{
			name: "all with max exactly the count", spec: tenMinutes, policy: CatchUpAll, opts: DueOpts{Max: 6},
			next: "2026-01-01T12:10:00Z", now: "2026-01-01T13:00:30Z",
			want: []string{
				"2026-01-01T12:10:00Z", "2026-01-01T12:20:00Z", "2026-01-01T12:30:00Z",
				"2026-01-01T12:40:00Z", "2026-01-01T12:50:00Z", "2026-01-01T13:00:00Z",
			},
			wantAfter: "2026-01-01T13:10:00Z",
		},
		{
			name: "one fires the most recent", spec: tenMinutes, policy: CatchUpOne,
			next: "2026-01-01T12:10:00Z", now: "2026-01-01T13:00:30Z",
			want:      []string{"2026-01-01T13:00:00Z"},
			wantAfter: "2026-01-01T13:10:00Z",
		},
		{
			name: "empty policy is one", spec: tenMinutes, policy: "",
			next: "2026-01-01T12:10:00Z", now: "2026-01-01T13:00:30Z",
			want:      []string{"2026-01-01T13:00:00Z"},
			wantAfter: "2026-01-01T13:10:00Z",
		},
		{
			name: "none skips what is later than grace", spec: tenMinutes, policy: CatchUpNone, opts: DueOpts{Grace: 10 * time.Second},
			next: "2026-01-01T12:10:00Z", now: "2026-01-01T13:00:30Z",
			want:      nil,
			wantAfter: "2026-01-01T13:10:00Z",
		},
		{
			name: "none with default grace skips", spec: tenMinutes, policy: CatchUpNone,
			next: "2026-01-01T12:10:00Z", now: "2026-01-01T13:01:30Z",
			want:      nil,
			wantAfter: "2026-01-01T13:10:00Z",
		},
		{
			name: "none fires within default grace", spec: tenMinutes, policy: CatchUpNone,
			next: "2026-01-01T12:10:00Z", now: "2026-01-01T13:00:30Z",
			want:      []string{"2026-01-01T13:00:00Z"},
			wantAfter: "2026-01-01T13:10:00Z",
		},
		{
			name: "none fires exactly at grace", spec: tenMinutes, policy: CatchUpNone,
			next: "2026-01-01T12:10:00Z", now: "2026-01-01T13:01:00Z",
			want:      []string{"2026-01-01T13:00:00Z"},
			wantAfter: "2026-01-01T13:10:00Z",
		},
		{
			name: "none with negative grace fires on time", spec: tenMinutes, policy: CatchUpNone, opts: DueOpts{Grace: -1},
			next: "2026-01-01T13:00:00Z", now: "2026-01-01T13:00:00Z",
			want:      []string{"2026-01-01T13:00:00Z"},
			wantAfter: "2026-01-01T13:10:00Z",
		},
		{
			name: "none with negative grace skips a late time", spec: tenMinutes, policy: CatchUpNone, opts: DueOpts{Grace: -1},
			next: "2026-01-01T13:00:00Z", now: "2026-01-01T13:00:00.001Z",
			want:      nil,
			wantAfter: "2026-01-01T13:10:00Z",
		},
		{
			name: "on time", spec: tenMinutes, policy: CatchUpAll,
			next: "2026-01-01T13:00:00Z", now: "2026-01-01T13:00:00Z",
			want:      []string{"2026-01-01T13:00:00Z"},
			wantAfter: "2026-01-01T13:10:00Z",
		},
		{
			name: "not due yet", spec: tenMinutes, policy: CatchUpAll,
			next: "2026-01-01T13:10:00Z", now: "2026-01-01T13:05:00Z",
			want:      nil,
			wantAfter: "2026-01-01T13:10:00Z",
		},
		{
			name: "no more runs", spec: tenMinutes, policy: CatchUpAll,
			next: "", now: "2026-01-01T13:05:00Z",
			want:      nil,
			wantAfter: "",
		},
		{
			name: "daily after three days all", spec: daily, policy: CatchUpAll,
			next: "2026-01-05T09:00:00Z", now: "2026-01-08T10:00:00Z",
			want: []string{
				"2026-01-05T09:00:00Z", "2026-01-06T09:00:00Z", "2026-01-07T09:00:00Z", "2026-01-08T09:00:00Z",
			},
			wantAfter: "2026-01-09T09:00:00Z",
		},
		{
			name: "daily after three days one", spec: daily, policy: CatchUpOne,
			next: "2026-01-05T09:00:00Z", now: "2026-01-08T10:00:00Z",
			want:      []string{"2026-01-08T09:00:00Z"},
			wantAfter: "2026-01-09T09:00:00Z",
		},
		{
			name: "daily after three days none", spec: daily, policy: CatchUpNone,
			next: "2026-01-05T09:00:00Z", now: "2026-01-08T10:00:00Z",
			want:      nil,
			wantAfter: "2026-01-09T09:00:00Z",
		},
		{
			name: "daily after three days none back in time", spec: daily, policy: CatchUpNone,
			next: "2026-01-05T09:00:00Z", now: "2026-01-08T09:00:20Z",
			want:      []string{"2026-01-08T09:00:00Z"},
			wantAfter: "2026-01-09T09:00:00Z",
		},
		{
			name: "stored next off the sequence still fires", spec: daily, policy: CatchUpAll,
			next: "2026-01-05T08:00:00Z", now: "2026-01-06T10:00:00Z",
			want:      []string{"2026-01-05T08:00:00Z", "2026-01-05T09:00:00Z", "2026-01-06T09:00:00Z"},
			wantAfter: "2026-01-07T09:00:00Z",
		},
		{
			name: "three years of minutes keeps the newest", spec: tenMinutes, policy: CatchUpAll, opts: DueOpts{Max: 2},
			next: "2026-01-01T12:10:00Z", now: "2029-01-01T00:05:00Z",
			want:      []string{"2028-12-31T23:50:00Z", "2029-01-01T00:00:00Z"},
			wantAfter: "2029-01-01T00:10:00Z",
		},
		{
			name: "cron all across fall back fires each wall-clock time once", spec: halfHour, policy: CatchUpAll,
			next: "2026-11-01T00:30:00-04:00", now: "2026-11-01T02:00:00-05:00",
			want: []string{
				"2026-11-01T00:30:00-04:00", "2026-11-01T01:00:00-04:00",
				"2026-11-01T01:30:00-04:00", "2026-11-01T02:00:00-05:00",
			},
			wantAfter: "2026-11-01T02:30:00-05:00",
		},
		{
			name: "cron one", spec: halfHour, policy: CatchUpOne,
			next: "2026-11-01T00:30:00-04:00", now: "2026-11-01T02:10:00-05:00",
			want:      []string{"2026-11-01T02:00:00-05:00"},
			wantAfter: "2026-11-01T02:30:00-05:00",
		},
		{
			name: "once all", spec: once, policy: CatchUpAll,
			next: "2026-01-01T12:00:00Z", now: "2026-01-01T13:00:00Z",
			want:      []string{"2026-01-01T12:00:00Z"},
			wantAfter: "",
		},
		{
			name: "once one", spec: once, policy: CatchUpOne,
			next: "2026-01-01T12:00:00Z", now: "2026-01-01T13:00:00Z",
			want:      []string{"2026-01-01T12:00:00Z"},
			wantAfter: "",
		},
		{
			name: "once none too late", spec: once, policy: CatchUpNone,
			next: "2026-01-01T12:00:00Z", now: "2026-01-01T13:00:00Z",
			want:      nil,
			wantAfter: "",
		},
		{
			name: "invalid spec ends the schedule", spec: Spec{Type: Minutes, Start: ts("2026-01-01T00:00:00Z")}, policy: CatchUpAll,
			next: "2026-01-01T12:00:00Z", now: "2026-01-01T13:00:00Z",
			want:      nil,
			wantAfter: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var next, wantAfter time.Time
			if tt.next != "" {
				next = ts(tt.next)
			}
			if tt.wantAfter != "" {
				wantAfter = ts(tt.wantAfter)
			}
			var want []time.Time
			for _, s := range tt.want {
				want = append(want, ts(s))
			}
			fire, after := tt.spec.Due(next, ts(tt.now), tt.policy, tt.opts)
			checkTimes(t, fire, want)
			checkTime(t, after, wantAfter)
		})
	}
}

// TestDueMinuteCronYearsBehind checks that catching up a busy cron line after
// a long outage looks back from now instead of walking the whole gap.
func TestDueMinuteCronYearsBehind(t *testing.T) {
	s := Spec{Type: Cron, Cron: "* * * * *"}
	next, now := ts("2023-01-01T00:00:00Z"), ts("2026-01-01T12:00:30Z")
	for _, policy := range []CatchUp{CatchUpAll, CatchUpOne, CatchUpNone} {
		t.Run(string(policy), func(t *testing.T) {
			fire, after := s.Due(next, now, policy, DueOpts{})
			want := 1
			if policy == CatchUpAll {
				want = DefaultMaxCatchUp
			}
			if got := len(fire); got != want {
				t.Fatalf("got %d fires, want %d", got, want)
			}
			checkTime(t, fire[len(fire)-1], ts("2026-01-01T12:00:00Z"))
			checkTime(t, fire[0], ts("2026-01-01T12:00:00Z").Add(-time.Duration(want-1)*time.Minute))
			checkTime(t, after, ts("2026-01-01T12:01:00Z"))
		})
	}
}

// FuzzDue checks Due's promises for any schedule, policy and times: at most
// Max fires, oldest first, none after now, and the next time after now.
func FuzzDue(f *testing.F) {
	f.Add("minutes", "10", "all", int64(0), int64(3_000), 3)
	f.Add("cron", "*/30 * * * *", "one", int64(-100), int64(200), 0)
	f.Add("cron", "30 2 * * *", "all", int64(0), int64(100_000), 0)
	f.Add("monthly", "", "none", int64(-5_000_000), int64(9_000_000), 0)
	f.Add("once", "", "all", int64(10), int64(5), 0)
	f.Fuzz(func(t *testing.T, typ, value, policy string, nextOffset, span int64, limit int) {
		start := ts("2026-03-08T01:00:00-05:00")
		s, err := ParseSpec(typ, value, start, newYork)
		if err != nil {
			return
		}
		// Minutes within about ten years of start.
		next := start.Add(time.Duration(nextOffset%5_000_000) * time.Minute)
		now := next.Add(time.Duration(span%5_000_000) * time.Minute)
		opts := DueOpts{Max: limit % 1000}
		fire, after := s.Due(next, now, CatchUp(policy), opts)

		most := opts.Max
		if most <= 0 {
			most = DefaultMaxCatchUp
		}
		if len(fire) > most {
			t.Fatalf("got %d fires, want at most %d", len(fire), most)
		}
		for i, f := range fire {
			if f.After(now) || (i > 0 && !f.After(fire[i-1])) {
				t.Fatalf("fires %v: not increasing or after now %s", fmtTimes(fire), fmtTime(now))
			}
		}
		if next.After(now) {
			checkTime(t, after, next)
		} else if !after.IsZero() && !after.After(now) {
			t.Fatalf("after %s, not after now %s", fmtTime(after), fmtTime(now))
		}
	})
}
