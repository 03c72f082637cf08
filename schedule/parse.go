package schedule

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseSpec builds and validates a Spec from text, as a command line or an
// environment variable gives it: typ is a Type name, value the number of
// minutes for "minutes" ("15"), the line for "cron" ("0 9 * * 1-5"), and
// empty for the other types. A nil loc means UTC.
func ParseSpec(typ, value string, start time.Time, loc *time.Location) (Spec, error) {
	t, err := ParseType(typ)
	if err != nil {
		return Spec{}, err
	}
	if loc == nil {
		loc = time.UTC
	}
	s := Spec{Type: t, Location: loc, Start: start}
	switch t {
	case Minutes:
		every, err := strconv.Atoi(strings.TrimSpace(value))
		if err != nil {
			return Spec{}, fmt.Errorf("minutes schedule: every %q is not a whole number of minutes", value)
		}
		s.Every = every
	case Cron:
		s.Cron = value
	default:
		if strings.TrimSpace(value) != "" {
			return Spec{}, fmt.Errorf("%s schedule takes no value, got %q", t, value)
		}
	}
	if err := s.Validate(); err != nil {
		return Spec{}, err
	}
	return s, nil
}
