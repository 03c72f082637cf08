package schedule

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode"

	"github.com/robfig/cron/v3"
)

// cronParser reads standard five-field lines (minute, hour, day of month,
// month, day of week) and descriptors such as @daily. Only the parser of
// robfig/cron is used; this package does the scheduling around it.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// CronError reports a cron line that cannot be used, and why.
type CronError struct {
	Line string // the line as given
	Err  error  // the problem; may be ErrNeverFires, ErrInterval or a parser error
}

func (e *CronError) Error() string { return fmt.Sprintf("cron line %q: %v", e.Line, e.Err) }

func (e *CronError) Unwrap() error { return e.Err }

// parseCron turns a cron line into its sequence of due times, at or after
// start unless start is zero. Without a CRON_TZ= (or TZ=) prefix the line is
// read in loc.
//
// "@every d" is d-spaced from start (start, start+d, ...), not from whenever
// Next is called as in robfig/cron, so due times do not drift; with a zero
// start they are counted from 0001-01-01 UTC, which aligns divisors of a day
// to midnight UTC.
func parseCron(line string, start time.Time, loc *time.Location) (sequence, error) {
	fail := func(err error) (sequence, error) { return nil, &CronError{Line: line, Err: err} }

	rest := strings.TrimSpace(line)
	if rest == "" {
		return fail(errors.New("empty"))
	}

	// Read the zone prefix here rather than in robfig/cron, which panics on
	// "TZ=UTC" and "CRON_TZ=" and would accept a second prefix.
	if prefix, spec, ok := cutZonePrefix(rest); ok {
		i := strings.IndexFunc(spec, unicode.IsSpace)
		if i < 0 {
			return fail(fmt.Errorf("%s needs a zone and then a schedule", prefix))
		}
		name := spec[:i]
		if name == "" {
			return fail(fmt.Errorf("%s needs a zone name", prefix))
		}
		if name == "Local" {
			// time.Local is whatever zone the host runs in: the same line
			// would fire at different times on different machines.
			return fail(fmt.Errorf("%sLocal depends on the host's zone; name a zone such as Europe/Berlin", prefix))
		}
		zone, err := time.LoadLocation(name)
		if err != nil {
			return fail(fmt.Errorf("time zone: %w", err))
		}
		loc, rest = zone, strings.TrimSpace(spec[i:])
		if _, _, again := cutZonePrefix(rest); again {
			return fail(fmt.Errorf("more than one time zone prefix"))
		}
	}

	if d, ok := strings.CutPrefix(rest, "@every"); ok && (d == "" || unicode.IsSpace(rune(d[0]))) {
		period, err := time.ParseDuration(strings.TrimSpace(d))
		switch {
		case err != nil:
			return fail(fmt.Errorf("@every: %w", err))
		case period < time.Minute:
			// robfig/cron would silently turn this into one second.
			return fail(fmt.Errorf("@every %v: %w", period, ErrInterval))
		case period%time.Second != 0:
			return fail(fmt.Errorf("@every %v: not a whole number of seconds", period))
		}
		return indexedSeq{ix: absolute{start: start, period: int64(period / time.Second), loc: loc}}, nil
	}

	parsed, err := parseStandard(rest)
	if err != nil {
		return fail(err)
	}
	spec, ok := parsed.(*cron.SpecSchedule)
	if !ok {
		return fail(fmt.Errorf("unsupported schedule %T", parsed))
	}
	sched := *spec
	sched.Location = loc

	// robfig/cron's Next returns the zero time when nothing matches within
	// five years. Any day that exists at all (February 29 included) comes
	// within five years of 2000-01-01, so from there zero means never.
	if sched.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, loc)).IsZero() {
		return fail(ErrNeverFires)
	}
	return cronSeq{sched: &sched, start: start, loc: loc}, nil
}

// cutZonePrefix splits "CRON_TZ=rest" or "TZ=rest" into the prefix and rest.
func cutZonePrefix(s string) (prefix, rest string, ok bool) {
	for _, prefix := range []string{"CRON_TZ=", "TZ="} {
		if rest, ok := strings.CutPrefix(s, prefix); ok {
			return prefix, rest, true
		}
	}
	return "", "", false
}

// parseStandard calls the robfig/cron parser, turning a panic into an error:
// the parser has panicked on inputs before, and lines come from users.
func parseStandard(line string) (sched cron.Schedule, err error) {
	defer func() {
		if r := recover(); r != nil {
			sched, err = nil, fmt.Errorf("cron parser panicked: %v", r)
		}
	}()
	return cronParser.Parse(line)
}

// cronSeq is the due times of a cron line, once per matching wall-clock time:
// see the package documentation for daylight saving time.
type cronSeq struct {
	sched *cron.SpecSchedule // Location set to loc
	start time.Time          // no due times before it; zero for no bound
	loc   *time.Location
}

func (c cronSeq) next(after time.Time) time.Time {
	if !c.start.IsZero() && after.Before(c.start) {
		after = c.start.Add(-time.Nanosecond)
	}
	t := c.nextExisting(after)
	if t.IsZero() {
		return t
	}
	if g := c.nextInGap(after, t); !g.IsZero() && g.Before(t) {
		t = g
	}
	return t.In(c.loc)
}

// nextExisting returns the first match after `after` among wall-clock times
// that exist, counting a repeated time only at its first occurrence.
func (c cronSeq) nextExisting(after time.Time) time.Time {
	retried := false
	for from := after; ; {
		t := c.sched.Next(from.In(c.loc))
		if t.IsZero() {
			// robfig/cron looks five years ahead; a valid line such as
			// "0 0 29 2 *" can wait eight (2096 to 2104). Look once more.
			if retried {
				return t
			}
			retried = true
			from = time.Date(from.In(c.loc).Year()+5, time.January, 1, 0, 0, 0, 0, c.loc).Add(-time.Nanosecond)
			continue
		}
		earlier, repeated := repeatedWall(t)
		if !repeated || (!c.start.IsZero() && earlier.Before(c.start)) {
			return t
		}
		// Fall back: this wall-clock time already happened at `earlier`, so
		// it was due then. At most one step per minute of the repeat.
		from = t
	}
}

// nextInGap returns the first match after `after` and before `limit` among
// wall-clock times skipped by a spring-forward gap, shifted forward by the
// gap's length, or the zero time.
func (c cronSeq) nextInGap(after, limit time.Time) time.Time {
	// Start with the transition that began after's zone period: after may sit
	// in the first hour behind a gap whose shifted times are still ahead.
	p := periodAt(after.In(c.loc))
	transition := p.start
	if transition.IsZero() {
		transition = p.end
	}
	for !transition.IsZero() && transition.Before(limit) {
		_, before := transition.Add(-time.Nanosecond).In(c.loc).Zone()
		_, following := transition.In(c.loc).Zone()
		if gap := time.Duration(following-before) * time.Second; gap > 0 && after.Before(transition.Add(gap)) {
			// In a fixed zone with the offset before the gap, the skipped
			// wall-clock times are the instants [transition, transition+gap),
			// shifted as RFC 5545 shifts them.
			fixed := *c.sched
			fixed.Location = time.FixedZone("", before)
			from := transition.Add(-time.Nanosecond)
			if after.After(from) {
				from = after
			}
			if m := fixed.Next(from); !m.IsZero() && m.Before(transition.Add(gap)) {
				return m
			}
		}
		_, transition = transition.In(c.loc).ZoneBounds()
	}
	return time.Time{}
}

// last walks forward from ever earlier points before `to` (cron has no
// "previous" function), so that the cost follows the due times wanted rather
// than the length of the gap.
func (c cronSeq) last(from, to time.Time, n int) []time.Time {
	if n <= 0 || !to.After(from) {
		return nil
	}
	for window := time.Hour; ; {
		lo, complete := to.Add(-window), window >= to.Sub(from)
		if complete {
			lo = from
		}
		times := c.lastFrom(lo, to, n)
		if len(times) >= n || complete {
			return times
		}
		if window > math.MaxInt64/4 {
			window = math.MaxInt64
		} else {
			window *= 4
		}
	}
}

// lastFrom returns at most n of the most recent due times in (from, to],
// oldest first, keeping only n at a time.
func (c cronSeq) lastFrom(from, to time.Time, n int) []time.Time {
	ring := make([]time.Time, 0, n)
	i := 0
	for t := c.next(from); !t.IsZero() && !t.After(to); t = c.next(t) {
		if len(ring) < n {
			ring = append(ring, t)
			continue
		}
		ring[i] = t
		i = (i + 1) % n
	}
	return append(ring[i:], ring[:i]...)
}
