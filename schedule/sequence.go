package schedule

import "time"

// sequence is the ordered set of a schedule's due times.
type sequence interface {
	// next returns the first due time strictly after `after`, or the zero time
	// when there is none.
	next(after time.Time) time.Time
	// last returns at most n of the most recent due times in (from, to],
	// oldest first.
	last(from, to time.Time, n int) []time.Time
}

// indexed is a sequence whose k-th due time can be computed directly, so that
// no lookup walks through the due times one by one, however large the gap.
type indexed interface {
	// at returns due time number k >= 0; at(0) is Start.
	at(k int64) time.Time
	// index returns the smallest k >= 0 with at(k) > after.
	index(after time.Time) int64
}

// indexedSeq adapts an indexed schedule to a sequence. A positive count limits
// the number of due times (1 for Once).
type indexedSeq struct {
	ix    indexed
	count int64
}

func (s indexedSeq) next(after time.Time) time.Time {
	k := s.ix.index(after)
	if s.count > 0 && k >= s.count {
		return time.Time{}
	}
	return s.ix.at(k)
}

func (s indexedSeq) last(from, to time.Time, n int) []time.Time {
	hi := s.ix.index(to) - 1 // the last due time <= to
	if s.count > 0 && hi >= s.count {
		hi = s.count - 1
	}
	lo := s.ix.index(from) // the first due time > from
	if n <= 0 || hi < lo {
		return nil
	}
	lo = max(lo, hi-int64(n)+1)
	times := make([]time.Time, 0, hi-lo+1)
	for k := lo; k <= hi; k++ {
		times = append(times, s.ix.at(k))
	}
	return times
}

// absolute is Start, Start+period, Start+2·period, ...: minutes, hourly and
// "@every" schedules. The period is a whole number of seconds.
type absolute struct {
	start  time.Time
	period int64 // seconds
	loc    *time.Location
}

func (a absolute) at(k int64) time.Time {
	return time.Unix(a.start.Unix()+k*a.period, int64(a.start.Nanosecond())).In(a.loc)
}

func (a absolute) index(after time.Time) int64 {
	if after.Before(a.start) {
		return 0
	}
	// Whole seconds from start to after, rounded down. Because every due time
	// is start plus whole seconds, start+k·period > after exactly when
	// k·period > secs.
	secs := after.Unix() - a.start.Unix()
	if after.Nanosecond() < a.start.Nanosecond() {
		secs--
	}
	return floorDiv(secs, a.period) + 1
}

// calendar is Start plus k·days days or k·months months in loc, at the
// wall-clock time clock (Start's, or Spec.Clock): daily and longer
// schedules. Exactly one of days and months is positive.
type calendar struct {
	start  time.Time // in loc
	clock  [3]int    // hour, minute, second
	days   int
	months int
	loc    *time.Location
}

func (c calendar) at(k int64) time.Time {
	if k == 0 {
		return c.start
	}
	year, month, day := c.start.Date()
	hour, minute, sec := c.clock[0], c.clock[1], c.clock[2]
	if c.days > 0 {
		day += int(k) * c.days
	} else {
		// Always from Start's day, clamped to the target month's length,
		// so that the 31st comes back after a short month.
		ym := int64(year)*12 + int64(month-1) + k*int64(c.months)
		year, month = int(floorDiv(ym, 12)), time.Month(ym-floorDiv(ym, 12)*12+1)
		day = min(day, daysIn(year, month))
	}
	return wallTime(year, month, day, hour, minute, sec, c.start.Nanosecond(), c.loc)
}

func (c calendar) index(after time.Time) int64 {
	if after.Before(c.start) {
		return 0
	}
	// Estimate k from the calendar distance, step back one for the daylight
	// saving shifts of a gap, then walk forward: at most a few steps.
	sy, sm, sd := c.start.Date()
	ay, am, ad := after.In(c.loc).Date()
	var k int64
	if c.days > 0 {
		k = (dayNumber(ay, am, ad) - dayNumber(sy, sm, sd)) / int64(c.days)
	} else {
		k = ((int64(ay)*12 + int64(am)) - (int64(sy)*12 + int64(sm))) / int64(c.months)
	}
	k = max(k-1, 0)
	for !c.at(k).After(after) {
		k++
	}
	return k
}

// once is the single due time Start.
type once struct {
	start time.Time
}

func (o once) at(int64) time.Time { return o.start }

func (o once) index(after time.Time) int64 {
	if after.Before(o.start) {
		return 0
	}
	return 1
}
