package schedule

import "time"

// wallTime returns the instant at which the wall clock in loc reads the given
// date and time, normalizing out-of-range values as [time.Date] does. Unlike
// time.Date, whose choice is unspecified for times that do not exist or exist
// twice, it follows RFC 5545: a time in a spring-forward gap is read with the
// offset in force before the gap (02:30 becomes 03:30 when clocks jump from
// 02:00 to 03:00), and a time repeated at fall-back means its first occurrence.
func wallTime(year int, month time.Month, day, hour, minute, sec, nsec int, loc *time.Location) time.Time {
	// The wall-clock reading as if it were UTC; its Unix seconds are the
	// reading's "local seconds", from which an offset gives an instant.
	w := time.Date(year, month, day, hour, minute, sec, nsec, time.UTC)
	local := w.Unix()

	// The true instant lies within a day of the instant `local` names, so the
	// zone periods around that instant hold every candidate offset (zones do
	// not change offset twice within a day or two).
	probe := time.Unix(local, 0).In(loc)
	periods := zonePeriods(probe)

	// Valid readings: the offset of a period applied to the reading lands in
	// that period. The earliest is the first occurrence.
	for _, p := range periods {
		t := time.Unix(local-int64(p.offset), int64(w.Nanosecond())).In(loc)
		if p.contains(t) && sameWall(t, w) {
			return t
		}
	}

	// No valid reading: the time falls in a gap between two periods. Read it
	// with the offset before the gap.
	for i := 0; i+1 < len(periods); i++ {
		before, after := periods[i], periods[i+1]
		transition := after.start
		if after.offset <= before.offset {
			continue
		}
		gapStart := transition.Unix() + int64(before.offset)
		gapEnd := transition.Unix() + int64(after.offset)
		if local >= gapStart && local < gapEnd {
			return time.Unix(local-int64(before.offset), int64(w.Nanosecond())).In(loc)
		}
	}

	// Unreachable for real zone data; fall back to time.Date's own choice.
	return time.Date(year, month, day, hour, minute, sec, nsec, loc)
}

// zonePeriod is a span of time [start, end) with one UTC offset. A zero start
// or end means unbounded on that side.
type zonePeriod struct {
	start, end time.Time
	offset     int // seconds east of UTC
}

func (p zonePeriod) contains(t time.Time) bool {
	return (p.start.IsZero() || !t.Before(p.start)) && (p.end.IsZero() || t.Before(p.end))
}

// zonePeriods returns the zone period containing t and its neighbours, oldest
// first.
func zonePeriods(t time.Time) []zonePeriod {
	cur := periodAt(t)
	periods := []zonePeriod{cur}
	if !cur.start.IsZero() {
		periods = append([]zonePeriod{periodAt(cur.start.Add(-time.Nanosecond))}, periods...)
	}
	if !cur.end.IsZero() {
		periods = append(periods, periodAt(cur.end))
	}
	return periods
}

func periodAt(t time.Time) zonePeriod {
	start, end := t.ZoneBounds()
	_, offset := t.Zone()
	return zonePeriod{start: start, end: end, offset: offset}
}

// sameWall reports whether t's wall clock (in its own location) reads the same
// date and time as w's.
func sameWall(t, w time.Time) bool {
	ty, tm, td := t.Date()
	wy, wm, wd := w.Date()
	return ty == wy && tm == wm && td == wd &&
		t.Hour() == w.Hour() && t.Minute() == w.Minute() && t.Second() == w.Second() &&
		t.Nanosecond() == w.Nanosecond()
}

// repeatedWall reports whether t's wall-clock time in its location already
// happened earlier (fall back), and if so returns that earlier instant.
func repeatedWall(t time.Time) (earlier time.Time, ok bool) {
	start, _ := t.ZoneBounds()
	if start.IsZero() {
		return time.Time{}, false
	}
	_, cur := t.Zone()
	_, prev := start.Add(-time.Nanosecond).Zone()
	back := time.Duration(prev-cur) * time.Second
	if back <= 0 || !t.Before(start.Add(back)) {
		return time.Time{}, false
	}
	return t.Add(-back), true
}

// dayNumber returns the number of days from 1970-01-01 to the given civil date.
func dayNumber(year int, month time.Month, day int) int64 {
	return floorDiv(time.Date(year, month, day, 0, 0, 0, 0, time.UTC).Unix(), 86400)
}

// daysIn returns the number of days in the given month.
func daysIn(year int, month time.Month) int {
	return time.Date(year, month+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// floorDiv divides rounding toward negative infinity.
func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}
