// Package jobs names the kinds of work Sluice can run and maps each name to
// the code that runs it: a Go handler, or a command the operator defined.
package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Func runs one task: it gets the task's JSON payload and returns its result.
// It must stop when ctx ends (the task's timeout or a shutdown); a Func that
// ignores ctx is abandoned at the deadline and its result discarded.
type Func func(ctx context.Context, payload json.RawMessage) ([]byte, error)

// Job is a named kind of work.
type Job struct {
	Name string
	Func Func
	// Isolated reports that Func runs the work in a child process and
	// returns within the kill grace once ctx ends, so the worker waits for
	// it instead of abandoning it at the deadline.
	Isolated bool
	// Process asks that this Go handler always run in a child process (see
	// Registry.Isolate), as if SLUICE_ISOLATION=process applied to it alone.
	Process bool
}

// Registry maps job names to jobs. Register everything before workers start;
// lookups are safe for concurrent use.
type Registry struct {
	mu    sync.RWMutex
	jobs  map[string]Job
	pools []*Pool // of AddWarm's jobs, for Close
}

// NewRegistry returns a registry holding the built-in jobs (echo_test).
func NewRegistry() *Registry {
	r := &Registry{jobs: map[string]Job{}}
	r.Register("echo_test", Echo)
	return r
}

// Register adds a Go handler. It panics on an empty or duplicate name:
// both are programming errors found at start.
func (r *Registry) Register(name string, fn Func) {
	r.Add(Job{Name: name, Func: fn})
}

// Add adds a job; it panics on an empty or duplicate name or a nil Func.
func (r *Registry) Add(j Job) {
	if strings.TrimSpace(j.Name) == "" || j.Func == nil {
		panic("jobs: Add needs a name and a Func")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.jobs[j.Name]; dup {
		panic(fmt.Sprintf("jobs: job %q registered twice", j.Name))
	}
	r.jobs[j.Name] = j
}

// Lookup returns the job called name, or an *UnknownError naming the registered ones.
func (r *Registry) Lookup(name string) (Job, error) {
	r.mu.RLock()
	j, ok := r.jobs[name]
	r.mu.RUnlock()
	if !ok {
		return Job{}, &UnknownError{Name: name, Known: r.Names()}
	}
	return j, nil
}

// Names returns the registered job names, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.jobs))
	for n := range r.jobs {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Isolate returns a registry in which every Go handler that is not already
// isolated runs in a child process, as an exec job like base: base.Argv (the
// binary's own command line, say [self, "handle"]) + [name] is executed with
// the payload on stdin, and is killed like an exec job when its time is up.
// all chooses every Go handler; otherwise only jobs added with Process set.
// The child must run the handler from the original registry (see `sluice handle`).
func (r *Registry) Isolate(base Command, all bool) *Registry {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := &Registry{jobs: make(map[string]Job, len(r.jobs))}
	for name, j := range r.jobs {
		if !j.Isolated && (all || j.Process) {
			c := base
			c.Argv = append(slices.Clip(base.Argv), name)
			j = Exec(name, c)
		}
		out.jobs[name] = j
	}
	return out
}

// UnknownError is returned for a job name nobody registered.
type UnknownError struct {
	Name  string
	Known []string
}

func (e *UnknownError) Error() string {
	return fmt.Sprintf("unknown job %q (registered: %s)", e.Name, strings.Join(e.Known, ", "))
}

// Echo is the built-in echo_test job: its result is its payload.
// It exists to check a deployment end to end.
func Echo(_ context.Context, payload json.RawMessage) ([]byte, error) {
	return payload, nil
}

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent wraps err so the worker fails the task at once instead of
// retrying it (a malformed payload, say). Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err, or an error it wraps, came from Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// TimeoutError is the error of an attempt that ran out of time.
type TimeoutError struct{ After time.Duration }

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("timeout after %s", e.After)
}

// Info describes the task a Func is running; InfoFrom reads it from the Func's context.
type Info struct {
	TaskID   int64
	Job      string
	Attempt  int
	Deadline time.Time
	// ScheduleID is the schedule that enqueued the task; 0 for other tasks.
	ScheduleID int64
	// ScheduledFor is the due time the task stands for when a schedule
	// enqueued it (it can be well before the task started, after downtime);
	// zero for other tasks.
	ScheduledFor time.Time
}

type infoKey struct{}

// WithInfo returns ctx carrying info, for the worker to pass to a Func.
func WithInfo(ctx context.Context, info Info) context.Context {
	return context.WithValue(ctx, infoKey{}, info)
}

// InfoFrom returns the task a Func is running, if ctx came from a worker.
func InfoFrom(ctx context.Context) (Info, bool) {
	info, ok := ctx.Value(infoKey{}).(Info)
	return info, ok
}

// Usage is what a supervised attempt's processes did (see Command.Supervisor).
type Usage struct {
	// Measured is true once a supervisor has reported on the attempt.
	Measured bool
	// Leftover counts the processes still alive when the attempt's command
	// ended, which the supervisor killed.
	Leftover int
	// PeakRSS is the largest resident set of any of its processes, in bytes.
	PeakRSS int64
	// OOM is true when the kernel killed one of them at the memory limit.
	OOM bool
}

type usageKey struct{}

// WithUsage returns ctx carrying u, which a supervised exec job fills in
// with what its attempt's processes did; the worker reads it after the Func returns.
func WithUsage(ctx context.Context, u *Usage) context.Context {
	return context.WithValue(ctx, usageKey{}, u)
}

func usageFrom(ctx context.Context) *Usage {
	u, _ := ctx.Value(usageKey{}).(*Usage)
	return u
}
