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
