package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/queue"
)

const cancelUsage = `
Usage: sluice cancel [flags] ID...

Cancels tasks. A queued task never runs; a running one is stopped by the
process running it within a couple of seconds (a command is killed) and its
outcome is discarded. Either way the task ends cancelled.

It is all or nothing, like retry: if any id is unknown or already
succeeded or failed, nothing changes, every such id is named and it exits 1.
A task already cancelled stays so and counts as done: cancelling twice
exits 0, as pausing a paused schedule does.

Examples:
  sluice cancel 42
  sluice cancel 42 43 44
  sluice cancel -json 42 | jq '.cancelled[].id'
`

// cancelJSON is sluice cancel -json.
type cancelJSON struct {
	Cancelled []cancelledJSON `json:"cancelled"`
}

type cancelledJSON struct {
	ID  int64       `json:"id"`
	Was queue.State `json:"was"` // queued, running, or cancelled (already)
}

func runCancel(ctx context.Context, m *Main, args []string) error {
	fs := newFlagSet(m, "cancel", cancelUsage)
	asJSON := fs.Bool("json", false, "print JSON instead of text")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("cancel: missing task ID")
	}
	ids := make([]int64, fs.NArg())
	for i, a := range fs.Args() {
		id, err := parseID(a)
		if err != nil {
			return usagef("cancel: %v", err)
		}
		ids[i] = id
	}
	_, store, err := m.openStore(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	prev, err := store.Cancel(ctx, ids)
	if errors.Is(err, queue.ErrNotFound) || errors.Is(err, queue.ErrNotCancellable) {
		return refused("cancel", err)
	}
	if err != nil {
		return err
	}
	ids = unique(ids)
	if *asJSON {
		v := cancelJSON{Cancelled: []cancelledJSON{}}
		for _, id := range ids {
			v.Cancelled = append(v.Cancelled, cancelledJSON{ID: id, Was: prev[id]})
		}
		return writeJSON(m.Stdout, v)
	}
	for _, id := range ids {
		switch prev[id] {
		case queue.Running:
			fmt.Fprintf(m.Stdout, "%d: cancelled; its worker stops it within seconds\n", id)
		case queue.Cancelled:
			fmt.Fprintf(m.Stdout, "%d: already cancelled\n", id)
		default:
			fmt.Fprintf(m.Stdout, "%d: cancelled\n", id)
		}
	}
	return nil
}

// unique returns ids without repeats, in order.
func unique(ids []int64) []int64 {
	seen := map[int64]bool{}
	out := ids[:0:0]
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// refused is the error of an all-or-nothing command that changed nothing:
// one line per task the store named. It exits 1, as "not found" does.
func refused(op string, err error) error {
	lines := strings.TrimPrefix(err.Error(), op+": ")
	return fmt.Errorf("%s refused, nothing changed:\n  %s", op, strings.ReplaceAll(lines, "\n", "\n  "))
}
