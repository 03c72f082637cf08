package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/queue"
)

const purgeUsage = `
Usage: sluice purge [-dry-run] -state STATE (-older-than AGE | -keep N)
       sluice purge [-dry-run] -group GROUP [-ungroup]

Deletes finished tasks of one state (succeeded, failed or cancelled): those
that finished more than AGE ago, or all but the newest N. It deletes 500 per
transaction, so workers keep running meanwhile. Queued and running tasks are
never purged. Drain and run do the same on their own by
SLUICE_KEEP_SUCCEEDED and SLUICE_KEEP_FAILED. With -dry-run it says how
many it would delete and deletes nothing.

With -group it deletes the finished tasks of one group, in one transaction
(Django-Q2's delete_group(group, tasks=True)); with -ungroup it keeps them
and clears their group instead (delete_group(group)). The group's queued
and running tasks are left alone.

Examples:
  sluice purge -state succeeded -older-than 7d
  sluice purge -state failed -older-than 36h
  sluice purge -state cancelled -keep 100
  sluice purge -dry-run -state FAILED -older-than 30d
  sluice purge -group reports-2026-01
`

// purgeJSON is sluice purge -json.
type purgeJSON struct {
	State   queue.State `json:"state,omitempty"`
	Group   string      `json:"group,omitempty"`
	Ungroup bool        `json:"ungroup,omitempty"` // the tasks were kept, their group cleared
	Deleted int         `json:"deleted"`           // with -dry-run: that would be
	DryRun  bool        `json:"dry_run,omitempty"`
}

func runPurge(ctx context.Context, m *Main, args []string) error {
	fs := newFlagSet(m, "purge", purgeUsage)
	state := fs.String("state", "", "the `state` to purge: succeeded, failed or cancelled (or give -group)")
	olderThan := fs.String("older-than", "", "delete tasks that finished longer ago than this `age` (7d, 36h)")
	keep := fs.Int("keep", 0, "delete all but the newest `N` tasks")
	dryRun := fs.Bool("dry-run", false, "say how many tasks would go, delete nothing")
	asJSON := fs.Bool("json", false, "print JSON instead of text")
	group := fs.String("group", "", "delete the finished tasks of this `group`")
	ungroup := fs.Bool("ungroup", false, "with -group: keep the tasks, clear their group")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if isSet(fs, "group") || *ungroup {
		return purgeGroup(ctx, m, fs.Args(), *state != "" || *olderThan != "" || isSet(fs, "keep"),
			purgeJSON{Group: *group, Ungroup: *ungroup, DryRun: *dryRun}, *asJSON)
	}
	keepSet := isSet(fs, "keep")
	final := []queue.State{queue.Succeeded, queue.Failed, queue.Cancelled}
	var k queue.Keep
	switch {
	case fs.NArg() > 0:
		return usagef("purge takes no arguments, got %q", fs.Args())
	case *state == "":
		return usagef("purge: -state is required (%s)", stateNames(final))
	case *olderThan != "" && keepSet:
		return usagef("purge: give -older-than or -keep, not both")
	case *olderThan == "" && !keepSet:
		return usagef("purge: give -older-than AGE or -keep N")
	case keepSet && *keep < 1:
		return usagef("purge: -keep %d: must be at least 1", *keep)
	}
	st, err := queue.ParseState(strings.ToLower(*state))
	if err != nil || !st.Final() {
		return usagef("purge: -state %q: want %s (queued and running tasks are never purged)", *state, stateNames(final))
	}
	if *olderThan != "" {
		if k.Age, err = queue.ParseAge(*olderThan); err != nil {
			return usagef("purge: -older-than: %v", err)
		}
	} else {
		k.Count = *keep
	}
	_, store, err := m.openStore(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	if *dryRun {
		n, err := store.PruneDryRun(ctx, st, k)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(m.Stdout, purgeJSON{State: st, Deleted: n, DryRun: true})
		}
		fmt.Fprintf(m.Stdout, "would purge %d %s %s\n", n, st, plural(n, "task", "tasks"))
		return nil
	}
	p, err := store.Prune(ctx, st, k, 0)
	if errors.Is(err, queue.ErrInvalid) {
		return usagef("purge: %v", err)
	}
	if err != nil {
		return fmt.Errorf("purge (deleted %d before the error): %w", p.Deleted, err)
	}
	if *asJSON {
		return writeJSON(m.Stdout, purgeJSON{State: st, Deleted: p.Deleted})
	}
	fmt.Fprintf(m.Stdout, "purged %d %s %s\n", p.Deleted, st, plural(p.Deleted, "task", "tasks"))
	return nil
}

// purgeGroup is sluice purge -group: p says what to do, others that
// flags of the other form were given too.
func purgeGroup(ctx context.Context, m *Main, args []string, others bool, p purgeJSON, asJSON bool) error {
	switch {
	case len(args) > 0:
		return usagef("purge takes no arguments, got %q", args)
	case others:
		return usagef("purge: -group takes no -state, -older-than or -keep (it purges the group's finished tasks)")
	case p.Group == "":
		return usagef("purge: -group must name a group")
	}
	_, store, err := m.openStore(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	if p.Deleted, err = store.PurgeGroup(ctx, p.Group, p.Ungroup, p.DryRun); err != nil {
		return err
	}
	if asJSON {
		return writeJSON(m.Stdout, p)
	}
	verb := map[[2]bool]string{{false, false}: "purged", {true, false}: "ungrouped",
		{false, true}: "would purge", {true, true}: "would ungroup"}[[2]bool{p.Ungroup, p.DryRun}]
	fmt.Fprintf(m.Stdout, "%s %d finished %s of group %s\n", verb, p.Deleted, plural(p.Deleted, "task", "tasks"), p.Group)
	return nil
}
