package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/sluicehq/sluice/queue"
)

const groupsUsage = `
Usage: sluice groups [flags] [GROUP]

Summarizes tasks by group (enqueue -group): total, then per state. With
GROUP, only that group; a group no task has exits 1. 'sluice tasks -group
GROUP' lists its tasks.

Examples:
  sluice groups
  sluice groups import-42
  sluice groups -json import-42 | jq .groups[0].counts.failed
`

// groupJSON is one group in -json output.
type groupJSON struct {
	Group  string         `json:"group"`
	Total  int            `json:"total"`
	Counts map[string]int `json:"counts"`
}

func toGroupJSON(g queue.GroupSummary) groupJSON {
	return groupJSON{Group: g.Group, Total: g.Total, Counts: countsJSON(g.Counts)}
}

// groupLine is a group's summary in one line.
func groupLine(g queue.GroupSummary) string {
	parts := make([]string, 0, len(queue.States))
	for _, st := range queue.States {
		parts = append(parts, fmt.Sprintf("%d %s", g.Counts[st], st))
	}
	return fmt.Sprintf("group %s: %d tasks: %s", g.Group, g.Total, strings.Join(parts, ", "))
}

func runGroups(ctx context.Context, m *Main, args []string) error {
	fs := newFlagSet(m, "groups", groupsUsage)
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return usagef("groups: want at most one GROUP, got %q", fs.Args())
	}
	_, store, err := m.openReader(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	gs, err := store.Groups(ctx, fs.Arg(0))
	if err != nil {
		return err
	}
	if fs.Arg(0) != "" && (len(gs) == 0 || gs[0].Total == 0) {
		return fmt.Errorf("groups: group %q not found: no task has it", fs.Arg(0))
	}
	if *asJSON {
		v := struct {
			Groups []groupJSON `json:"groups"`
		}{Groups: []groupJSON{}}
		for _, g := range gs {
			v.Groups = append(v.Groups, toGroupJSON(g))
		}
		return writeJSON(m.Stdout, v)
	}
	printGroups(printer(m.Stdout), gs, m.width(m.Stdout))
	return nil
}

// shortStates head the groups table's columns in a terminal narrower than
// the full names need.
var shortStates = map[queue.State]string{queue.Queued: "QUEUED", queue.Running: "RUN",
	queue.Succeeded: "OK", queue.Failed: "FAILED", queue.Cancelled: "CANCEL"}

// printGroups writes the groups table within width columns (0: no limit):
// the group name is cut to 24 characters, or less in a narrow terminal,
// where the state columns have short headers too.
func printGroups(w io.Writer, gs []queue.GroupSummary, width int) {
	if len(gs) == 0 {
		fmt.Fprintln(w, "no groups")
		return
	}
	header := []string{"GROUP", "TOTAL"}
	short := width > 0 && width < 64 // the full headers need about 60 columns
	for _, st := range queue.States {
		if short {
			header = append(header, shortStates[st])
		} else {
			header = append(header, strings.ToUpper(string(st)))
		}
	}
	rows := [][]string{header}
	for _, g := range gs {
		r := []string{g.Group, fmt.Sprint(g.Total)}
		for _, st := range queue.States {
			r = append(r, fmt.Sprint(g.Counts[st]))
		}
		rows = append(rows, r)
	}
	if width > 0 {
		others := 0 // the count columns, each with the two spaces before it
		for i := 1; i < len(header); i++ {
			col := 0
			for _, r := range rows {
				col = max(col, len(r[i]))
			}
			others += col + 2
		}
		for _, r := range rows[1:] {
			r[0] = clip(r[0], max(len("GROUP"), min(24, width-others)))
		}
	}
	table(w, rows, []int{1, 2, 3, 4, 5, 6})
}
