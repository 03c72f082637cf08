package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sluicehq/sluice/queue"
)

const tasksUsage = `
Usage: sluice tasks [flags]

Lists tasks, newest first: id, job, state, attempts (tries/max), how long the
last attempt took, when (due for a queued task, started for a running one,
finished otherwise) and the first line of the last error. With -group it
ends with the group's summary. On a terminal the table fits its width (job
and error are cut with "…"); in a pipe or with -wide nothing is cut.

Examples:
  sluice tasks
  sluice tasks -state failed -since 1h
  sluice tasks -state queued,running -queue mail -limit 200
  sluice tasks -job send_mail -since 2026-06-01T00:00:00Z
  sluice tasks -group import-42
  sluice tasks -state failed -json | jq -r '.tasks[].id' | xargs sluice retry
`

// DefaultTasksLimit is how many tasks sluice tasks lists without -limit.
const DefaultTasksLimit = 50

// tasksJSON is sluice tasks -json.
type tasksJSON struct {
	Tasks []taskJSON `json:"tasks"`
	Group *groupJSON `json:"group,omitempty"`
}

func runTasks(ctx context.Context, m *Main, args []string) error {
	fs := newFlagSet(m, "tasks", tasksUsage)
	states := fs.String("state", "", "only these `states`, comma-separated (queued, running, failed, ...)")
	var p queue.ListParams
	fs.StringVar(&p.Queue, "queue", "", "only this `queue`")
	fs.StringVar(&p.Job, "job", "", "only this `job`")
	fs.StringVar(&p.Group, "group", "", "only this `group`, and its summary")
	since := fs.String("since", "", "only tasks finished, started or created since this `age` (1h, 7d) or time")
	fs.IntVar(&p.Limit, "limit", DefaultTasksLimit, "at most this many tasks (0: all)")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	wide := fs.Bool("wide", false, "cut nothing to fit the terminal's width")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("tasks takes no arguments, got %q (filters are flags: -state, -job, ...)", fs.Args())
	}
	if p.Limit < 0 {
		return usagef("tasks: -limit %d must not be negative", p.Limit)
	}
	if *states != "" {
		for s := range strings.SplitSeq(*states, ",") {
			st, err := queue.ParseState(strings.ToLower(strings.TrimSpace(s)))
			if err != nil {
				return usagef("tasks: -state: unknown state %q (want %s)", strings.TrimSpace(s), stateNames(queue.States))
			}
			p.States = append(p.States, st)
		}
	}
	e, err := m.env()
	if err != nil {
		return err
	}
	if *since != "" {
		t, err := parseSince(*since, e.now())
		if err != nil {
			return usagef("tasks: -since: %v", err)
		}
		p.Since = t
	}
	store, err := e.openReader(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	tasks, err := store.List(ctx, p)
	if err != nil {
		return err
	}
	var group *queue.GroupSummary
	if p.Group != "" {
		gs, err := store.Groups(ctx, p.Group)
		if err != nil {
			return err
		}
		group = &gs[0]
	}
	if *asJSON {
		v := tasksJSON{Tasks: []taskJSON{}}
		for _, t := range tasks {
			v.Tasks = append(v.Tasks, toJSON(t, e.cfg.MaxAttempts))
		}
		if group != nil {
			g := toGroupJSON(*group)
			v.Group = &g
		}
		return writeJSON(m.Stdout, v)
	}
	out := printer(m.Stdout)
	width := m.width(m.Stdout)
	if *wide {
		width = 0
	}
	printTasks(out, tasks, e.now(), e.cfg.MaxAttempts, width)
	if group != nil {
		fmt.Fprintln(out)
		fmt.Fprintln(out, groupLine(*group))
	}
	return nil
}

// parseSince reads an age before now (1h, 7d) or an RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := queue.ParseAge(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: want an age such as 1h or 7d, or an RFC 3339 time", s)
	}
	return now.Add(-d), nil
}

// printTasks writes the listing table within width columns (0: no limit):
// the error gets what is left of the line, the job giving up characters
// (down to 8) so that it keeps at least 16, and is left out below 8.
func printTasks(w io.Writer, tasks []queue.Task, now time.Time, defaultMax, width int) {
	if len(tasks) == 0 {
		fmt.Fprintln(w, "no tasks")
		return
	}
	rows := [][]string{{"ID", "JOB", "STATE", "TRY", "TOOK", "WHEN", "ERROR"}}
	for _, t := range tasks {
		errText := printable(firstLine(t.Error), false)
		if errText == "" {
			errText = "-"
		}
		d := took(t.Duration)
		if t.Duration == 0 && !t.StartedAt.IsZero() && t.State != queue.Running {
			d = "<1ms" // an attempt ran, quicker than the millisecond the database keeps
		}
		// Escaped before fitting, so an escape sequence counts for its printed width.
		rows = append(rows, []string{fmt.Sprint(t.ID), printable(t.Job, false), string(t.State), tries(t, defaultMax),
			d, when(t, now), errText})
	}
	if width > 0 {
		for _, r := range rows[1:] {
			r[1] = clip(r[1], 24) // a long job name leaves room for the error
		}
	}
	rows = fitColumns(rows, width, 1, 8, 16)
	table(w, rows, []int{0, 3, 4})
}
