package pgqueue

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/schedule"
)

// The checks below are queue's (EnqueueParams.validate,
// ScheduleParams.validate, firstRun), which are unexported; the shared
// suite compares both stores' messages for the same bad input
// (TestValidationMatchesQueue). The store seam should export them once.

// validateTask checks p and fills in defaults, as queue does.
func validateTask(p *queue.EnqueueParams) error {
	var problems []string
	if strings.TrimSpace(p.Job) == "" {
		problems = append(problems, "job name is empty")
	}
	if len(p.Payload) == 0 {
		p.Payload = json.RawMessage("{}")
	} else if len(p.Payload) > queue.MaxPayload {
		problems = append(problems, fmt.Sprintf("payload is %d bytes, over the limit of %d (keep large data elsewhere and pass a reference)", len(p.Payload), queue.MaxPayload))
	} else if !json.Valid(p.Payload) {
		problems = append(problems, fmt.Sprintf("payload is not valid JSON: %s", describeJSON(p.Payload)))
	}
	if p.Queue == "" {
		p.Queue = queue.DefaultQueue
	}
	if p.Priority < 0 {
		problems = append(problems, fmt.Sprintf("priority %d is negative", p.Priority))
	}
	if p.MaxAttempts < 0 {
		problems = append(problems, fmt.Sprintf("max attempts %d is negative", p.MaxAttempts))
	}
	if p.Timeout < 0 {
		problems = append(problems, fmt.Sprintf("timeout %s is negative", p.Timeout))
	}
	if p.UniqueKey != "" && strings.TrimSpace(p.UniqueKey) == "" {
		problems = append(problems, "unique key is blank")
	}
	if p.Timeout > 0 && p.Timeout < time.Millisecond {
		problems = append(problems, fmt.Sprintf("timeout %s is below a millisecond", p.Timeout))
	}
	if len(p.Then) > 0 {
		// Refused rather than dropped: this store does not write follow-ups yet.
		problems = append(problems, "follow-up tasks (chains and hooks) are not supported on PostgreSQL yet")
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", queue.ErrInvalid, strings.Join(problems, "; "))
	}
	return nil
}

// describeJSON says where JSON stops being valid.
func describeJSON(b []byte) string {
	var v any
	err := json.Unmarshal(b, &v)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%v (at byte %d)", se, se.Offset)
	}
	if err != nil {
		return err.Error()
	}
	return "invalid"
}

// validateBatch validates every task of a batch, naming the first bad one.
func validateBatch(ps []queue.EnqueueParams) error {
	for i := range ps {
		if err := validateTask(&ps[i]); err != nil {
			return fmt.Errorf("enqueue batch: task %d: %w", i, err)
		}
	}
	return nil
}

// validateSchedule checks p and fills in defaults, with now for a zero Start.
func validateSchedule(p *queue.ScheduleParams, now time.Time) error {
	var problems []string
	switch {
	case strings.TrimSpace(p.Name) == "":
		problems = append(problems, "name is empty")
	case len(p.Name) > 200:
		problems = append(problems, "name is longer than 200 bytes")
	case strings.ContainsFunc(p.Name, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }):
		problems = append(problems, fmt.Sprintf("name %q contains spaces or control characters", p.Name))
	}
	task := queue.EnqueueParams{Job: p.Job, Payload: p.Payload, Queue: p.Queue, Priority: p.Priority,
		MaxAttempts: p.MaxAttempts, Timeout: p.Timeout}
	if err := validateTask(&task); err != nil {
		problems = append(problems, strings.TrimPrefix(err.Error(), queue.ErrInvalid.Error()+": "))
	}
	p.Payload, p.Queue = task.Payload, task.Queue
	if p.Spec.Location == nil {
		p.Spec.Location = time.UTC
	}
	if p.Spec.Start.IsZero() && p.Spec.StartsNow() {
		p.Spec.Start = now
	}
	p.Spec.Start = p.Spec.Start.Truncate(time.Second)
	if err := p.Spec.Validate(); err != nil {
		problems = append(problems, err.Error())
	}
	if p.Repeats < 0 {
		problems = append(problems, fmt.Sprintf("repeats %d is negative (0 means forever)", p.Repeats))
	}
	if p.CatchUp == "" {
		p.CatchUp = schedule.CatchUpOne
	} else if c, err := schedule.ParseCatchUp(string(p.CatchUp)); err != nil {
		problems = append(problems, err.Error())
	} else {
		p.CatchUp = c
	}
	switch p.Source {
	case "":
		p.Source = queue.SourceCLI
	case queue.SourceCLI, queue.SourceEnv:
	default:
		problems = append(problems, fmt.Sprintf("unknown source %q", p.Source))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w %q: %s", queue.ErrInvalidSchedule, p.Name, strings.Join(problems, "; "))
	}
	return nil
}

// firstRun is the first due time of a new schedule: Start itself when it is
// now or later, else the first due time after now (past times are not fired).
func firstRun(spec schedule.Spec, now time.Time) time.Time {
	if spec.Type == schedule.Once && !spec.Start.After(now) {
		return spec.Start // due at once, as in queue (and Django-Q2)
	}
	ref := now.Truncate(time.Second)
	if spec.Start.After(ref) {
		ref = spec.Start
	}
	return spec.Next(ref.Add(-time.Nanosecond))
}
