package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/queue"
)

const showUsage = `
Usage: sluice show [flags] ID

Shows everything about one task: its settings and times, its payload and
result, and every attempt with its outcome, duration and error. Attempts
that ran under a supervisor (exec jobs, process-isolated handlers) also show
how many processes were left over when the command ended (the supervisor
killed them) and the peak memory (largest RSS) among their processes.

Examples:
  sluice show 42
  sluice show -json 42 | jq .history
`

func runShow(ctx context.Context, m *Main, args []string) error {
	fs := newFlagSet(m, "show", showUsage)
	asJSON := fs.Bool("json", false, "print JSON instead of text")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("show: want one task ID, got %d arguments", fs.NArg())
	}
	id, err := parseID(fs.Arg(0))
	if err != nil {
		return usagef("show: %v", err)
	}
	e, store, err := m.openReader(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	t, err := store.Get(ctx, id)
	if errors.Is(err, queue.ErrNotFound) {
		return fmt.Errorf("show: no task with id %d", id)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(m.Stdout, toJSON(t, e.cfg.MaxAttempts))
	}
	printTask(printer(m.Stdout), t, e.now(), e.cfg)
	return nil
}

// parseID reads a task id: a positive whole number.
func parseID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 1 {
		return 0, fmt.Errorf("task id %q: want a positive whole number", s)
	}
	return id, nil
}

// printTask writes one task for a person; defaults come from the configuration.
func printTask(w io.Writer, t queue.Task, now time.Time, cfg config.Config) {
	fmt.Fprintf(w, "task %d: %s, %s\n\n", t.ID, t.Job, t.State)
	if t.Invalid != "" && !t.State.Final() {
		fmt.Fprintf(w, "invalid row: %s (a worker fails it when it claims it)\n\n", t.Invalid)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "  %s\t%s\n", k, v) }
	at := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return stamp(t) + " (" + ago(t, now) + ")"
	}
	row("queue", fmt.Sprintf("%s, priority %d", t.Queue, t.Priority))
	if t.Group != "" {
		row("group", t.Group)
	}
	if t.UniqueKey != "" {
		row("unique key", t.UniqueKey)
	}
	attempts := tries(t, cfg.MaxAttempts)
	if t.MaxAttempts == 0 {
		attempts += " (SLUICE_MAX_ATTEMPTS)"
	}
	row("attempts", attempts)
	if t.Timeout > 0 {
		row("timeout", t.Timeout.String())
	} else {
		row("timeout", cfg.Timeout.String()+" (SLUICE_TIMEOUT)")
	}
	row("created", at(t.CreatedAt))
	row("run at", at(t.RunAt))
	row("started", at(t.StartedAt))
	if t.State == queue.Running {
		row("worker", t.Worker)
		row("lease until", at(t.LeaseUntil))
	}
	row("finished", at(t.FinishedAt))
	d := took(t.Duration)
	if t.Duration == 0 && !t.StartedAt.IsZero() && t.State != queue.Running {
		d = "<1ms"
	}
	row("took", d)
	tw.Flush()
	if t.Error != "" {
		fmt.Fprintf(w, "\nLast error:\n%s\n", indent(t.Error))
	}
	fmt.Fprintf(w, "\nPayload:\n%s\n", indent(pretty(t.Payload)))
	if t.Result != nil {
		fmt.Fprintf(w, "\nResult:\n%s\n", indent(pretty(t.Result)))
	}
	if len(t.History) == 0 {
		fmt.Fprintln(w, "\nHistory: no finished attempts yet")
		return
	}
	fmt.Fprintln(w, "\nHistory:")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	procs := slices.ContainsFunc(t.History, func(a queue.Attempt) bool { return a.Leftover != nil })
	if procs {
		fmt.Fprintln(tw, "  #\tOUTCOME\tSTARTED\tTOOK\tLEFTOVER\tPEAK MEM\tERROR")
	} else {
		fmt.Fprintln(tw, "  #\tOUTCOME\tSTARTED\tTOOK\tERROR")
	}
	for _, a := range t.History {
		errText := firstLine(a.Error)
		if errText == "" {
			errText = "-"
		}
		d := took(a.Duration)
		if a.Duration == 0 && a.Outcome != "retried" {
			d = "<1ms"
		}
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t", a.Attempt, a.Outcome, stamp(a.StartedAt), d)
		if procs {
			fmt.Fprintf(tw, "%s\t%s\t", leftover(a.Leftover), mebibytes(a.PeakRSS))
		}
		fmt.Fprintf(tw, "%s\n", errText)
	}
	tw.Flush()
}

// leftover prints how many processes a supervisor killed after an attempt's
// command ended: "-" for an attempt nobody supervised.
func leftover(n *int) string {
	switch {
	case n == nil:
		return "-"
	case *n == 1:
		return "1 process"
	}
	return fmt.Sprintf("%d processes", *n)
}

// mebibytes prints a size in bytes as MiB; "-" for unknown.
func mebibytes(b int64) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}

// pretty indents JSON; anything else comes back as it is.
func pretty(b []byte) string {
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return string(b)
	}
	return out.String()
}

// indent puts two spaces before every line of s.
func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ")
}
