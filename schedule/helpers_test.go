package schedule

import (
	"testing"
	"time"
	_ "time/tzdata" // tests must not depend on the machine's zone files
)

var (
	newYork = mustZone("America/New_York")
	berlin  = mustZone("Europe/Berlin")
)

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// ts parses an RFC 3339 time: test tables write instants with their offsets,
// so that the expected values are checked by hand, not computed.
func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// fmtTime prints t in RFC 3339 so that failures show the offset.
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "zero"
	}
	return t.Format(time.RFC3339Nano)
}

func checkTime(tb testing.TB, got, want time.Time) {
	tb.Helper()
	if !got.Equal(want) {
		tb.Errorf("got %s, want %s", fmtTime(got), fmtTime(want))
	}
}

func checkTimes(tb testing.TB, got, want []time.Time) {
	tb.Helper()
	equal := len(got) == len(want)
	for i := 0; equal && i < len(got); i++ {
		equal = got[i].Equal(want[i])
	}
	if !equal {
		tb.Errorf("got %v, want %v", fmtTimes(got), fmtTimes(want))
	}
}

func fmtTimes(times []time.Time) []string {
	s := make([]string, len(times))
	for i, t := range times {
		s[i] = fmtTime(t)
	}
	return s
}
