package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/queue"
)

const enqueueUsage = `
Usage: sluice enqueue [flags] JOB [PAYLOAD]

Adds one task for JOB and prints its id. PAYLOAD is JSON; "-" reads it from
standard input; without it the payload is {}. JOB must be a job this binary
knows (see 'sluice config' for the list).

With -unique KEY, while a task with that key is queued or running, nothing
is added and that task's id is printed instead (a note goes to stderr).
The database enforces it, across processes.

-at takes the forms 'schedule add -start' does: RFC 3339, a wall-clock
date and time in SLUICE_TZ (2026-12-01 08:00), or a time of day (08:00).

Examples:
  sluice enqueue echo_test '{"hello":"world"}'
  sluice enqueue -queue mail -priority 5 send_mail '{"to":"a@example.com"}'
  sluice enqueue -delay 10m -max-attempts 5 -timeout 30s report < payload.json -
  sluice enqueue -at 2026-12-01T08:00:00Z monthly_invoice '{}'
  sluice enqueue monthly_invoice '{}' -at '2026-12-01 08:00'
  sluice enqueue -unique report-2026-06 report '{"month":"2026-06"}'
  sluice enqueue -json echo_test '{}' | jq .id
`

// enqueueJSON is sluice enqueue -json.
type enqueueJSON struct {
	ID        int64 `json:"id"`
	Duplicate bool  `json:"duplicate"` // -unique: the key was held by task ID; nothing was added
}

func runEnqueue(ctx context.Context, m *Main, args []string) error {
	fs := newFlagSet(m, "enqueue", enqueueUsage)
	var p queue.EnqueueParams
	fs.StringVar(&p.Queue, "queue", queue.DefaultQueue, "queue `name`")
	fs.IntVar(&p.Priority, "priority", 0, "priority, 0 or more; higher runs first")
	var delay time.Duration
	durationVar(fs, &delay, "delay", 0, "run no earlier than this `duration` from now")
	at := fs.String("at", "", "run no earlier than this `time`: RFC 3339, 2026-01-02 09:30 or 09:30")
	fs.IntVar(&p.MaxAttempts, "max-attempts", 0, "attempts before the task fails for good (default SLUICE_MAX_ATTEMPTS)")
	durationVar(fs, &p.Timeout, "timeout", 0, "hard timeout of each attempt, a `duration` (default SLUICE_TIMEOUT)")
	asJSON := fs.Bool("json", false, "print JSON instead of the id alone")
	fs.StringVar(&p.Group, "group", "", "group `name`, to follow related tasks together")
	fs.StringVar(&p.UniqueKey, "unique", "", "unique `key`: while a task holds it, add nothing, print that id")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case fs.NArg() == 0:
		return usagef("enqueue: missing JOB")
	case fs.NArg() > 2:
		return usagef("enqueue: want JOB [PAYLOAD], got %d arguments: %q (quote the payload)", fs.NArg(), fs.Args())
	case delay < 0:
		return usagef("enqueue: -delay %s must not be negative", delay)
	case delay > 0 && *at != "":
		return usagef("enqueue: -delay and -at cannot be used together")
	}
	if err := positive(fs, "max-attempts", p.MaxAttempts, "SLUICE_MAX_ATTEMPTS"); err != nil {
		return err
	}
	if err := positive(fs, "timeout", p.Timeout, "SLUICE_TIMEOUT"); err != nil {
		return err
	}
	p.Job = fs.Arg(0)
	switch payload := fs.Arg(1); payload {
	case "-":
		b, err := io.ReadAll(m.Stdin)
		if err != nil {
			return fmt.Errorf("enqueue: read payload from stdin: %w", err)
		}
		p.Payload = b
	default:
		p.Payload = []byte(payload)
	}

	e, err := m.env()
	if err != nil {
		return err
	}
	if *at != "" {
		t, _, err := config.ParseStart(*at, e.cfg.Location(), e.now())
		if err != nil {
			return usagef("enqueue: -at: %v", err)
		}
		p.RunAt = t
	}
	if delay > 0 {
		p.RunAt = e.now().Add(delay)
	}
	if _, err := e.jobs.Lookup(p.Job); err != nil {
		return usagef("enqueue: %v", err)
	}
	store, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	r, err := store.EnqueueUnique(ctx, p)
	if errors.Is(err, queue.ErrInvalid) {
		return usagef("%v", err)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(m.Stdout, enqueueJSON{ID: r.ID, Duplicate: r.Duplicate})
	}
	if r.Duplicate {
		fmt.Fprintf(m.Stderr, "sluice: task %d already holds unique key %q; nothing added\n", r.ID, p.UniqueKey)
	}
	fmt.Fprintln(m.Stdout, r.ID)
	return nil
}
