package schedule

import (
	"fmt"
	"strings"
	"time"
)

// CatchUp says what a schedule does about due times missed while the worker
// was down.
type CatchUp string

// The catch-up policies.
const (
	// CatchUpOne fires once for any number of missed due times, with the most
	// recent one as the intended time. The default.
	CatchUpOne CatchUp = "one"
	// CatchUpAll fires every missed due time, oldest first, up to a limit.
	CatchUpAll CatchUp = "all"
	// CatchUpNone fires only a due time that is at most a grace period old.
	CatchUpNone CatchUp = "none"
)

// Defaults for DueOpts.
const (
	DefaultMaxCatchUp = 100
	DefaultGrace      = time.Minute
)

// ParseCatchUp returns the CatchUp named by s, ignoring case and surrounding
// space.
func ParseCatchUp(s string) (CatchUp, error) {
	switch c := CatchUp(strings.ToLower(strings.TrimSpace(s))); c {
	case CatchUpOne, CatchUpAll, CatchUpNone:
		return c, nil
	}
	return "", fmt.Errorf("unknown catch-up policy %q (valid: one, all, none)", s)
}

// DueOpts tunes Due.
type DueOpts struct {
	// Max is the most due times CatchUpAll fires at once: the most recent
	// Max. Zero or less means DefaultMaxCatchUp.
	Max int

	// Grace is how late a due time may be and still fire under CatchUpNone.
	// Zero means DefaultGrace; a negative Grace allows no lateness at all.
	Grace time.Duration
}

// Due returns the due times to fire now, given the stored next due time
// `next` (<= now means due), and the next due time to store afterwards
// (strictly after now; zero when the schedule has no more runs).
//
// The missed due times are `next` itself and every due time of s in
// (next, now]. The policy picks from them:
//
//   - CatchUpAll fires them all, oldest first; when there are more than
//     opts.Max it fires the most recent Max and drops the older ones, since
//     recent runs matter more than old ones and the newest must never be lost.
//   - CatchUpOne (and an empty or unknown policy) fires once, with the most
//     recent missed due time as the intended time.
//   - CatchUpNone fires the most recent missed due time if it is at most
//     opts.Grace old (now - t <= Grace), and nothing otherwise.
//
// The times returned are the intended due times, not now. When next is after
// now nothing is due: Due returns no times and next unchanged. A zero next
// means the schedule has no more runs. Due cannot report an invalid Spec:
// validate specs before storing them; for an invalid one Due fires nothing
// and returns the zero time.
func (s Spec) Due(next, now time.Time, policy CatchUp, opts DueOpts) (fire []time.Time, after time.Time) {
	if next.IsZero() {
		return nil, time.Time{}
	}
	if next.After(now) {
		return nil, next
	}
	seq, err := s.sequence()
	if err != nil {
		return nil, time.Time{}
	}
	after = seq.next(now)

	if policy == CatchUpAll {
		limit := opts.Max
		if limit <= 0 {
			limit = DefaultMaxCatchUp
		}
		fire = seq.last(next, now, limit)
		if len(fire) < limit {
			fire = append([]time.Time{next}, fire...)
		}
		return fire, after
	}

	latest := next
	if times := seq.last(next, now, 1); len(times) > 0 {
		latest = times[0]
	}
	if policy == CatchUpNone {
		grace := opts.Grace
		switch {
		case grace == 0:
			grace = DefaultGrace
		case grace < 0:
			grace = 0
		}
		if now.Sub(latest) > grace {
			return nil, after
		}
	}
	return []time.Time{latest}, after
}
