package schedule

import (
	"fmt"
	"testing"
	"time"
)

func TestWallTime(t *testing.T) {
	tests := []struct {
		name string
		loc  *time.Location
		wall string // read in loc; the offset is ignored
		want string
	}{
		{"ordinary", newYork, "2026-07-01T09:15:00Z", "2026-07-01T09:15:00-04:00"},
		{"new york gap shifts forward", newYork, "2026-03-08T02:30:00Z", "2026-03-08T03:30:00-04:00"},
		{"new york gap start", newYork, "2026-03-08T02:00:00Z", "2026-03-08T03:00:00-04:00"},
		{"new york just before gap", newYork, "2026-03-08T01:59:59Z", "2026-03-08T01:59:59-05:00"},
		{"new york after gap", newYork, "2026-03-08T03:00:00Z", "2026-03-08T03:00:00-04:00"},
		{"new york repeat is first occurrence", newYork, "2026-11-01T01:30:00Z", "2026-11-01T01:30:00-04:00"},
		{"new york repeat start", newYork, "2026-11-01T01:00:00Z", "2026-11-01T01:00:00-04:00"},
		{"new york after repeat", newYork, "2026-11-01T02:00:00Z", "2026-11-01T02:00:00-05:00"},
		{"berlin gap shifts forward", berlin, "2026-03-29T02:30:00Z", "2026-03-29T03:30:00+02:00"},
		// time.Date picks the second occurrence here; RFC 5545 wants the first.
		{"berlin repeat is first occurrence", berlin, "2026-10-25T02:30:00Z", "2026-10-25T02:30:00+02:00"},
		{"berlin after repeat", berlin, "2026-10-25T03:00:00Z", "2026-10-25T03:00:00+01:00"},
		{"nanoseconds kept", berlin, "2026-03-29T02:30:00.5Z", "2026-03-29T03:30:00.5+02:00"},
		// Santiago springs forward at midnight: the day starts at 01:00.
		{"santiago midnight gap", mustZone("America/Santiago"), "2026-09-06T00:00:00Z", "2026-09-06T01:00:00-03:00"},
		{"utc", time.UTC, "2026-03-08T02:30:00Z", "2026-03-08T02:30:00Z"},
		{"normalizes day overflow", time.UTC, "2026-02-31T00:00:00Z", "2026-03-03T00:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := wallFields(tt.wall)
			got := wallTime(w.year, w.month, w.day, w.hour, w.min, w.sec, w.nsec, tt.loc)
			checkTime(t, got, ts(tt.want))
			if got.Location() != tt.loc {
				t.Errorf("got location %v, want %v", got.Location(), tt.loc)
			}
		})
	}
}

type fields struct {
	year                      int
	month                     time.Month
	day, hour, min, sec, nsec int
}

// wallFields splits "YYYY-MM-DDTHH:MM:SS[.frac]Z" into its fields without
// normalizing them (February 31 stays February 31).
func wallFields(s string) fields {
	var f fields
	var month int
	var frac float64
	n, err := fmt.Sscanf(s, "%d-%d-%dT%d:%d:%gZ", &f.year, &month, &f.day, &f.hour, &f.min, &frac)
	if err != nil || n != 6 {
		panic("bad wall time " + s)
	}
	f.month = time.Month(month)
	f.sec = int(frac)
	f.nsec = int((frac-float64(f.sec))*1e9 + 0.5)
	return f
}

func TestRepeatedWall(t *testing.T) {
	tests := []struct {
		name        string
		t           time.Time
		wantEarlier string // empty: not a repeat
	}{
		{"first occurrence", ts("2026-11-01T01:30:00-04:00").In(newYork), ""},
		{"second occurrence", ts("2026-11-01T01:30:00-05:00").In(newYork), "2026-11-01T01:30:00-04:00"},
		{"end of repeat", ts("2026-11-01T02:00:00-05:00").In(newYork), ""},
		{"berlin second occurrence", ts("2026-10-25T02:59:59+01:00").In(berlin), "2026-10-25T02:59:59+02:00"},
		{"after spring forward", ts("2026-03-08T03:30:00-04:00").In(newYork), ""},
		{"utc", ts("2026-11-01T01:30:00Z"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			earlier, ok := repeatedWall(tt.t)
			if got, want := ok, tt.wantEarlier != ""; got != want {
				t.Fatalf("got repeated %v, want %v", got, want)
			}
			if ok {
				checkTime(t, earlier, ts(tt.wantEarlier))
			}
		})
	}
}

// TestStartInGap: a daily or monthly schedule declared at a wall-clock time
// that daylight saving skips runs at the shifted time that day and at the
// declared time after, for good.
func TestStartInGap(t *testing.T) {
	for _, tt := range []struct {
		zone         string
		y            int
		m            time.Month
		d            int
		typ          Type
		first, later string // wall clock in the zone
	}{
		{"America/New_York", 2027, time.March, 14, Daily, "2027-03-14 03:30 EDT", "2027-03-15 02:30 EDT"},
		{"Europe/Berlin", 2027, time.March, 28, Daily, "2027-03-28 03:30 CEST", "2027-03-29 02:30 CEST"},
		{"Europe/Berlin", 2027, time.March, 28, Monthly, "2027-03-28 03:30 CEST", "2027-04-28 02:30 CEST"},
	} {
		loc, err := time.LoadLocation(tt.zone)
		if err != nil {
			t.Fatal(err)
		}
		start, clock := Wall(tt.y, tt.m, tt.d, 2, 30, 0, loc)
		if clock != "02:30:00" {
			t.Fatalf("Wall(%s 02:30) clock = %q; want 02:30:00", tt.zone, clock)
		}
		spec := Spec{Type: tt.typ, Location: loc, Start: start, Clock: clock}
		first := spec.Next(start.Add(-time.Second))
		later := spec.Next(first)
		const layout = "2006-01-02 15:04 MST"
		if got := first.Format(layout); got != tt.first {
			t.Errorf("%s %s: first run %s; want %s", tt.zone, tt.typ, got, tt.first)
		}
		if got := later.Format(layout); got != tt.later {
			t.Errorf("%s %s: second run %s; want %s", tt.zone, tt.typ, got, tt.later)
		}
		if err := (Spec{Type: Hourly, Start: start, Clock: clock}).Validate(); err == nil {
			t.Errorf("an hourly schedule with a clock is valid; want it refused")
		}
	}
	if _, clock := Wall(2027, time.March, 15, 2, 30, 0, time.UTC); clock != "" {
		t.Errorf("Wall of a time that exists: clock %q; want empty", clock)
	}
}
