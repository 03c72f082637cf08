package schedule

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Type is the kind of a schedule. The values are Django-Q2's schedule types,
// spelled out in lowercase.
type Type string

// The schedule types.
const (
	Once      Type = "once"      // at Start only
	Minutes   Type = "minutes"   // every Spec.Every minutes
	Hourly    Type = "hourly"    // every hour
	Daily     Type = "daily"     // every day at Start's wall-clock time
	Weekly    Type = "weekly"    // every 7 days
	Biweekly  Type = "biweekly"  // every 14 days
	Monthly   Type = "monthly"   // every month on Start's day, clamped to the month's end
	Bimonthly Type = "bimonthly" // every 2 months
	Quarterly Type = "quarterly" // every 3 months
	Yearly    Type = "yearly"    // every 12 months
	Cron      Type = "cron"      // at the times matching Spec.Cron
)

// allTypes lists every schedule type, in the order above.
var allTypes = []Type{Once, Minutes, Hourly, Daily, Weekly, Biweekly, Monthly, Bimonthly, Quarterly, Yearly, Cron}

// Errors for errors.Is. Validation errors wrap them with the details.
var (
	ErrUnknownType = errors.New("unknown schedule type")
	ErrNoStart     = errors.New("start time is required")
	ErrInterval    = errors.New("interval must be at least one minute")
	ErrNeverFires  = errors.New("never fires")
)

// maxEvery keeps Every·time.Minute within a time.Duration (about 292 years).
const maxEvery = math.MaxInt64 / int64(time.Minute)

// ParseType returns the Type named by s, ignoring case and surrounding space.
func ParseType(s string) (Type, error) {
	t := Type(strings.ToLower(strings.TrimSpace(s)))
	if !t.valid() {
		return "", fmt.Errorf("%w %q (valid: %s)", ErrUnknownType, s, typeList())
	}
	return t, nil
}

// KeepsClock reports whether schedules of type t keep a wall-clock time of
// day: daily and longer ones (see Spec.Clock).
func (t Type) KeepsClock() bool { return slices.Contains(calendarTypes, t) }

func (t Type) valid() bool {
	for _, v := range allTypes {
		if t == v {
			return true
		}
	}
	return false
}

func typeList() string {
	names := make([]string, len(allTypes))
	for i, t := range allTypes {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}

// Spec describes a schedule: its type, its parameters and where its due times
// start. Due times form the sequence t0 = Start, t1, t2, ...; for Cron,
// Start is only a lower bound: the due times are the matches at or after it.
type Spec struct {
	Type Type

	// Every is the interval in minutes of a Minutes schedule, from 1 up; zero
	// for other types.
	Every int

	// Cron is the line of a Cron schedule, empty for other types: five fields
	// (minute hour day-of-month month day-of-week), or a descriptor (@yearly,
	// @monthly, @weekly, @daily, @hourly, "@every 90m"), optionally after a
	// "CRON_TZ=Zone " prefix that overrides Location. "@every" must be at
	// least one minute.
	Cron string

	// Location is the time zone of wall-clock times (daily and longer, and
	// cron). Nil means UTC.
	Location *time.Location

	// Start is the first due time; for daily and longer schedules it also
	// fixes the wall-clock time (read in Location) and the day of the month.
	// Required except for Cron, where zero means no lower bound.
	Start time.Time

	// Clock is the wall-clock time of day ("15:04:05") daily and longer
	// schedules keep when Start does not show it, as Wall returns it: a
	// start declared at 02:30 on the day clocks jump from 02:00 to 03:00 is
	// due at the shifted 03:30 that day (Start) and at 02:30 on the days
	// after (Clock). Empty means Start's own time of day.
	Clock string
}

// clockLayout is the form of Spec.Clock.
const clockLayout = "15:04:05"

// calendarTypes are the types that keep a wall-clock time of day.
var calendarTypes = []Type{Daily, Weekly, Biweekly, Monthly, Bimonthly, Quarterly, Yearly}

// Wall returns the instant the wall clock in loc reads the given date and
// time, by the rule of RFC 5545 the package documentation describes. When
// that time does not exist (a spring-forward gap) the instant is the shifted
// one, and clock is the time of day as given, for Spec.Clock; otherwise
// clock is empty.
func Wall(year int, month time.Month, day, hour, minute, sec int, loc *time.Location) (t time.Time, clock string) {
	t = wallTime(year, month, day, hour, minute, sec, 0, loc)
	if t.Hour() != hour || t.Minute() != minute || t.Second() != sec {
		clock = fmt.Sprintf("%02d:%02d:%02d", hour, minute, sec)
	}
	return t, clock
}

// Validate reports whether s describes a schedule that can fire, naming the
// problem if not. A Cron error is a *CronError.
func (s Spec) Validate() error {
	_, err := s.sequence()
	return err
}

// Next returns the first due time strictly after `after`, in the schedule's
// location (s.Location, or a cron line's CRON_TZ zone), or the zero time when there is none: a Once schedule whose Start is not after
// `after`, or an invalid Spec (see Validate).
//
// Daylight saving time: daily and longer schedules and cron lines keep
// wall-clock time; a time skipped by spring forward fires shifted forward by
// the gap (02:30 becomes 03:30), and a time repeated by fall back fires once,
// at its first occurrence. Minutes, hourly and "@every" are absolute
// durations and ignore it. The package documentation has the details.
func (s Spec) Next(after time.Time) time.Time {
	seq, err := s.sequence()
	if err != nil {
		return time.Time{}
	}
	return seq.next(after)
}

// StartsNow reports whether a schedule given no Start starts now: every
// type does but cron, whose lines match the clock, except "@every d", which
// counts from its start (without one it would count from year 1 and not be
// due at once).
func (s Spec) StartsNow() bool {
	if s.Type != Cron {
		return true
	}
	line := strings.TrimSpace(s.Cron)
	if _, rest, ok := cutZonePrefix(line); ok {
		_, line, _ = strings.Cut(rest, " ")
	}
	return strings.HasPrefix(strings.TrimSpace(line), "@every")
}

// Zone returns the zone the schedule's wall-clock times are read in: a cron
// line's CRON_TZ= (or TZ=) zone when it has one, else Location (nil: UTC).
// Show due times in it.
func (s Spec) Zone() *time.Location {
	if s.Type == Cron {
		if _, rest, ok := cutZonePrefix(strings.TrimSpace(s.Cron)); ok {
			name, _, _ := strings.Cut(rest, " ")
			if loc, err := time.LoadLocation(strings.TrimSpace(name)); err == nil && name != "Local" {
				return loc
			}
		}
	}
	return s.location()
}

func (s Spec) location() *time.Location {
	if s.Location == nil {
		return time.UTC
	}
	return s.Location
}

// sequence validates s and returns its due times.
func (s Spec) sequence() (sequence, error) {
	if !s.Type.valid() {
		return nil, fmt.Errorf("%w %q (valid: %s)", ErrUnknownType, s.Type, typeList())
	}
	if s.Type != Cron && s.Start.IsZero() {
		return nil, fmt.Errorf("%s schedule: %w", s.Type, ErrNoStart)
	}
	if s.Type != Minutes && s.Every != 0 {
		return nil, fmt.Errorf("%s schedule: every=%d is only for minutes schedules", s.Type, s.Every)
	}
	if s.Type != Cron && s.Cron != "" {
		return nil, fmt.Errorf("%s schedule: a cron line (%q) is only for cron schedules", s.Type, s.Cron)
	}

	loc := s.location()
	start := s.Start.In(loc)
	clock := [3]int{start.Hour(), start.Minute(), start.Second()}
	if s.Clock != "" {
		c, err := time.Parse(clockLayout, s.Clock)
		if err != nil || !s.Type.KeepsClock() {
			return nil, fmt.Errorf("%s schedule: clock %q: want a time of day (15:04:05) of a daily or longer schedule", s.Type, s.Clock)
		}
		clock = [3]int{c.Hour(), c.Minute(), c.Second()}
	}
	day := func(n int) sequence { return indexedSeq{ix: calendar{start: start, clock: clock, days: n, loc: loc}} }
	month := func(n int) sequence { return indexedSeq{ix: calendar{start: start, clock: clock, months: n, loc: loc}} }
	switch s.Type {
	case Once:
		return indexedSeq{ix: once{start: start}, count: 1}, nil
	case Minutes:
		if s.Every < 1 {
			return nil, fmt.Errorf("minutes schedule: every=%d: %w", s.Every, ErrInterval)
		}
		if int64(s.Every) > maxEvery {
			return nil, fmt.Errorf("minutes schedule: every=%d is above the maximum %d", s.Every, maxEvery)
		}
		return indexedSeq{ix: absolute{start: start, period: int64(s.Every) * 60, loc: loc}}, nil
	case Hourly:
		return indexedSeq{ix: absolute{start: start, period: 3600, loc: loc}}, nil
	case Daily:
		return day(1), nil
	case Weekly:
		return day(7), nil
	case Biweekly:
		return day(14), nil
	case Monthly:
		return month(1), nil
	case Bimonthly:
		return month(2), nil
	case Quarterly:
		return month(3), nil
	case Yearly:
		return month(12), nil
	default: // Cron
		return parseCron(s.Cron, start, loc)
	}
}
