package config

import (
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/sluicehq/sluice/queue"
)

// Upper bounds of the numbers. A value past them is a typo or a
// misunderstanding, and some would cost the machine (every worker is a
// goroutine with its buffers; SLUICE_WORKERS=100000000 ran out of memory).
const (
	// MaxWorkers bounds SLUICE_WORKERS. A task is a goroutine, or a child
	// process for commands; more than a few thousand at once is beyond what
	// one SQLite writer can keep fed anyway.
	MaxWorkers = 4096
	// MaxAttempts bounds SLUICE_MAX_ATTEMPTS: every attempt stays in the
	// task's history.
	MaxAttempts = 1000
	// MaxDuration bounds every duration setting: timeouts, leases, graces,
	// backoff, poll and deadline.
	MaxDuration = 366 * 24 * time.Hour
	// MinPoll is the shortest SLUICE_POLL: below it a run only burns CPU.
	MinPoll = 10 * time.Millisecond
)

// bounds returns a problem for each number out of its range. validate
// checks the lower bounds and the relations between settings.
func (c Config) bounds() []string {
	var p []string
	if c.Workers > MaxWorkers {
		p = append(p, fmt.Sprintf("SLUICE_WORKERS=%d: must be at most %d", c.Workers, MaxWorkers))
	}
	if c.MaxAttempts > MaxAttempts {
		p = append(p, fmt.Sprintf("SLUICE_MAX_ATTEMPTS=%d: must be at most %d", c.MaxAttempts, MaxAttempts))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"SLUICE_TIMEOUT", c.Timeout}, {"SLUICE_RETRY", c.Retry}, {"SLUICE_KILL_GRACE", c.KillGrace},
		{"SLUICE_BACKOFF_BASE", c.BackoffBase}, {"SLUICE_BACKOFF_MAX", c.BackoffMax},
		{"SLUICE_SHUTDOWN_GRACE", c.ShutdownGrace}, {"SLUICE_DRAIN_DEADLINE", c.DrainDeadline}, {"SLUICE_POLL", c.Poll},
		{"SLUICE_HEARTBEAT", c.Heartbeat}, {"SLUICE_STALE_AFTER", c.StaleAfter},
	} {
		if d.v > MaxDuration {
			p = append(p, fmt.Sprintf("%s=%s: must be at most %s (366 days)", d.name, d.v, MaxDuration))
		}
	}
	// The default timeout is bounded like a task's own (timeout_ms): a task
	// may not be given less room than the default, and the row rules refuse
	// a longer one (queue.MaxTimeout).
	if c.Timeout > queue.MaxTimeout && c.Timeout <= MaxDuration {
		p = append(p, fmt.Sprintf("SLUICE_TIMEOUT=%s: must be at most %s, the longest timeout a task may carry", c.Timeout, queue.MaxTimeout))
	}
	if c.Poll > 0 && c.Poll < MinPoll {
		p = append(p, fmt.Sprintf("SLUICE_POLL=%s: must be at least %s", c.Poll, MinPoll))
	}
	return p
}

// varName finds the variables a problem is about.
var varName = regexp.MustCompile(Prefix + `[A-Z0-9_]+`)

// without drops the problems about a variable whose value did not parse:
// its field holds a zero that would only add a misleading problem.
func without(problems []string, failed []string) []string {
	if len(failed) == 0 {
		return problems
	}
	return slices.DeleteFunc(problems, func(p string) bool {
		for _, name := range varName.FindAllString(p, -1) {
			if slices.Contains(failed, name) {
				return true
			}
		}
		return false
	})
}
