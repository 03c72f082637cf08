package queue

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Bounds of a retention limit.
const (
	MaxKeepCount = 1_000_000_000
	maxAge       = 100 * 365 * 24 * time.Hour
)

// ParseKeep parses a retention limit as SLUICE_KEEP_SUCCEEDED and
// SLUICE_KEEP_FAILED write it: an age ("7d", "36h", "90m"), a count
// ("10000"), both separated by a comma ("7d,10000": a task goes when it is
// older or beyond the count), or "forever".
func ParseKeep(s string) (Keep, error) {
	var k Keep
	s = strings.TrimSpace(s)
	if s == "forever" {
		return k, nil
	}
	if s == "" {
		return k, fmt.Errorf("empty retention: want an age such as 7d, a count such as 10000, both (7d,10000) or forever")
	}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if n, err := strconv.Atoi(part); err == nil {
			if n < 1 || n > MaxKeepCount || k.Count != 0 {
				return Keep{}, fmt.Errorf("retention %q: count %q must be from 1 to %d and given once", s, part, MaxKeepCount)
			}
			k.Count = n
			continue
		}
		d, err := ParseAge(part)
		if err != nil {
			return Keep{}, fmt.Errorf("retention %q: %w", s, err)
		}
		if k.Age != 0 {
			return Keep{}, fmt.Errorf("retention %q: age given twice", s)
		}
		k.Age = d
	}
	return k, nil
}

// ParseAge parses a positive age: a Go duration ("36h", "90m") or a whole
// number of days ("7d").
func ParseAge(s string) (time.Duration, error) {
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 1 || n > int(maxAge/(24*time.Hour)) {
			return 0, fmt.Errorf("age %q: want a whole number of days such as 7d", s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("age %q: want a duration such as 7d, 36h or 90m", s)
		}
	}
	if d <= 0 {
		return 0, fmt.Errorf("age %q: must be positive", s)
	}
	if d > maxAge {
		return 0, fmt.Errorf("age %q: must be at most 100 years (36500d)", s)
	}
	return d, nil
}

// UnmarshalText lets caarlos0/env parse a Keep.
func (k *Keep) UnmarshalText(b []byte) error {
	v, err := ParseKeep(string(b))
	if err != nil {
		return err
	}
	*k = v
	return nil
}

// String writes k the way ParseKeep reads it.
func (k Keep) String() string {
	var parts []string
	if k.Age > 0 {
		if k.Age%(24*time.Hour) == 0 {
			parts = append(parts, fmt.Sprintf("%dd", k.Age/(24*time.Hour)))
		} else {
			parts = append(parts, k.Age.String())
		}
	}
	if k.Count > 0 {
		parts = append(parts, strconv.Itoa(k.Count))
	}
	if len(parts) == 0 {
		return "forever"
	}
	return strings.Join(parts, ",")
}
