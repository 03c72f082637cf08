package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/schedule"
)

// declared is one entry of SLUICE_SCHEDULES. Its fields are the flags of
// `sluice schedule add`; the README documents them.
type declared struct {
	Name        string          `json:"name"`
	Job         string          `json:"job"`
	Type        string          `json:"type"`
	Every       int             `json:"every,omitempty"`
	Cron        string          `json:"cron,omitempty"`
	Start       string          `json:"start,omitempty"`
	Zone        string          `json:"zone,omitempty"`
	Payload     json.RawMessage `json:"payload,omitempty"`
	Queue       string          `json:"queue,omitempty"`
	Priority    int             `json:"priority,omitempty"`
	MaxAttempts int             `json:"max_attempts,omitempty"`
	Timeout     string          `json:"timeout,omitempty"`
	Repeats     *int            `json:"repeats,omitempty"` // nil or -1: forever; 0 is refused
	CatchUp     string          `json:"catch_up,omitempty"`
	NoOverlap   bool            `json:"no_overlap,omitempty"`
}

// ParseSchedules reads SLUICE_SCHEDULES: a JSON array of entries. It
// returns every problem found, each naming its entry: one entry that does
// not decode (an unknown field, a wrong type) hides no other entry's
// problems. now and loc (SLUICE_TZ) read start times such as "09:30"; the
// Definition of each schedule is its entry in a canonical form (with the
// effective zone), so a schedule changes only when its declaration does.
//
// known, when not nil, checks that a job exists; its error is a problem.
func ParseSchedules(text string, now time.Time, loc *time.Location, known func(job string) error) ([]queue.ScheduleParams, []string) {
	const v = "SLUICE_SCHEDULES"
	dec := json.NewDecoder(strings.NewReader(text))
	var raw []json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return nil, []string{fmt.Sprintf("%s: want a JSON array of schedules: %v", v, jsonProblem(text, err))}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, []string{fmt.Sprintf("%s: unexpected text after the JSON array", v)}
	}
	var (
		out      []queue.ScheduleParams
		problems []string
		seen     = map[string]int{}
	)
	for i, r := range raw {
		d, err := decodeEntry(r)
		where := fmt.Sprintf("%s[%d]", v, i)
		if d.Name != "" {
			where += fmt.Sprintf(" (%q)", d.Name)
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %s", where, jsonProblem(string(r), err)))
			continue
		}
		p, errs := d.params(now, loc)
		if known != nil && strings.TrimSpace(d.Job) != "" {
			if err := known(d.Job); err != nil {
				errs = append(errs, err.Error())
			}
		}
		for _, e := range errs {
			problems = append(problems, fmt.Sprintf("%s: %s", where, e))
		}
		if j, dup := seen[d.Name]; dup && d.Name != "" {
			problems = append(problems, fmt.Sprintf("%s: name also used by entry %d", where, j))
		}
		seen[d.Name] = i
		if len(errs) == 0 {
			out = append(out, p)
		}
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return out, nil
}

// decodeEntry decodes one entry strictly. When it fails, the entry comes
// back with whatever name could be read, so the problem can name it.
func decodeEntry(r json.RawMessage) (declared, error) {
	dec := json.NewDecoder(bytes.NewReader(r))
	dec.DisallowUnknownFields()
	var d declared
	if err := dec.Decode(&d); err != nil {
		var named struct {
			Name any `json:"name"`
		}
		json.Unmarshal(r, &named)
		name, _ := named.Name.(string)
		return declared{Name: name}, err
	}
	if string(bytes.TrimSpace(r)) == "null" {
		return d, errors.New("want an object, got null")
	}
	return d, nil
}

// jsonProblem says where JSON text stops making sense.
func jsonProblem(text string, err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("%v (at byte %d)", se, se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("%s: want %s, got %s (at byte %d)", strings.TrimPrefix(te.Field, "."), te.Type, te.Value, te.Offset)
	case errors.Is(err, io.EOF):
		return "empty (use [] to declare none)"
	}
	return err.Error()
}

// params checks one entry and turns it into ScheduleParams.
func (d declared) params(now time.Time, defaultLoc *time.Location) (queue.ScheduleParams, []string) {
	var problems []string
	if strings.TrimSpace(d.Name) == "" {
		problems = append(problems, "name is missing")
	}
	if strings.TrimSpace(d.Job) == "" {
		problems = append(problems, "job is missing")
	}
	loc := defaultLoc
	if d.Zone != "" {
		z, err := LoadZone(d.Zone)
		if err != nil {
			problems = append(problems, err.Error())
		}
		loc = z
	}
	var start time.Time
	var clock string
	if d.Start != "" && loc != nil {
		t, c, err := ParseStart(d.Start, loc, now)
		if err != nil {
			problems = append(problems, err.Error())
		}
		start, clock = t, c
	}
	typ, err := schedule.ParseType(d.Type)
	if err != nil {
		problems = append(problems, err.Error())
	}
	if !typ.KeepsClock() {
		clock = "" // a gap moves only the first run; other types keep no time of day
	}
	spec := schedule.Spec{Type: typ, Every: d.Every, Cron: d.Cron, Location: loc, Start: start, Clock: clock}
	if err == nil && loc != nil {
		check := spec
		if check.Start.IsZero() && check.StartsNow() {
			check.Start = now // stands in for the start the store will give it
		}
		if err := check.Validate(); err != nil {
			problems = append(problems, err.Error())
		}
	}
	var timeout time.Duration
	if d.Timeout != "" {
		if timeout, err = time.ParseDuration(d.Timeout); err != nil || timeout < time.Millisecond {
			problems = append(problems, fmt.Sprintf("timeout %q: want a duration of at least 1ms such as 30s or 5m", d.Timeout))
		}
	}
	if d.CatchUp != "" {
		if _, err := schedule.ParseCatchUp(d.CatchUp); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if d.Priority < 0 {
		problems = append(problems, fmt.Sprintf("priority %d is negative", d.Priority))
	}
	if d.MaxAttempts < 0 {
		problems = append(problems, fmt.Sprintf("max_attempts %d is negative", d.MaxAttempts))
	}
	repeats := -1
	if d.Repeats != nil {
		repeats = *d.Repeats
	}
	if err := CheckRepeats(repeats); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return queue.ScheduleParams{}, problems
	}
	// The canonical definition: compact payload, effective zone.
	canon := d
	if len(d.Payload) > 0 {
		var b bytes.Buffer
		json.Compact(&b, d.Payload) // valid: the decoder checked it
		canon.Payload = b.Bytes()
	}
	canon.Zone = loc.String()
	def, _ := json.Marshal(canon)
	return queue.ScheduleParams{
		Name: d.Name, Job: d.Job, Payload: canon.Payload, Queue: d.Queue, Priority: d.Priority,
		MaxAttempts: d.MaxAttempts, Timeout: timeout, Spec: spec, Repeats: max(repeats, 0), // -1 is the store's 0
		CatchUp: schedule.CatchUp(strings.ToLower(strings.TrimSpace(d.CatchUp))), NoOverlap: d.NoOverlap,
		Source: queue.SourceEnv, Definition: string(def),
	}, nil
}

// LoadZone loads an IANA zone; "Local" is refused, since it differs between
// machines sharing one queue.
func LoadZone(name string) (*time.Location, error) {
	if strings.EqualFold(name, "local") {
		return nil, fmt.Errorf("zone %q: name an IANA zone such as Europe/Berlin, not the machine's local zone", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("zone %q: %v", name, err)
	}
	return loc, nil
}

// startLayouts are the forms a start time may take, besides RFC 3339.
var startLayouts = []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02"}

// ParseStart reads a start time: RFC 3339 (an instant), a date and time
// without offset (wall-clock time in loc), or a time of day such as 09:30
// (today in loc). A wall-clock time that daylight saving skips is read as
// the package schedule reads them (02:30 becomes 03:30 when clocks jump
// from 02:00 to 03:00), and clock is then the time as given, for
// schedule.Spec.Clock; otherwise clock is empty.
func ParseStart(s string, loc *time.Location, now time.Time) (t time.Time, clock string, err error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, "", nil
	}
	for _, layout := range startLayouts {
		if w, err := time.Parse(layout, s); err == nil { // the wall-clock reading, as if in UTC
			t, clock := schedule.Wall(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), loc)
			return t, clock, nil
		}
	}
	for _, layout := range []string{"15:04:05", "15:04"} {
		if w, err := time.Parse(layout, s); err == nil {
			y, m, d := now.In(loc).Date()
			t, clock := schedule.Wall(y, m, d, w.Hour(), w.Minute(), w.Second(), loc)
			return t, clock, nil
		}
	}
	return time.Time{}, "", fmt.Errorf("start %q: want RFC 3339 (2026-01-02T09:30:00Z), a wall-clock date and time (2026-01-02 09:30) or a time of day (09:30)", s)
}

// CheckRepeats refuses a repeats count that does not mean what a Django-Q2
// user expects: 0 is "stopped" there, and was "forever" here before.
func CheckRepeats(n int) error {
	switch {
	case n == 0:
		return errors.New("repeats 0 would never run (Django-Q2 reads 0 as stopped): leave it out or give -1 to repeat forever, or pause the schedule")
	case n < -1:
		return fmt.Errorf("repeats %d: want a number of runs, or -1 for forever", n)
	}
	return nil
}
