package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/sluicehq/sluice/queue"
)

const cancelUsage = `
Usage: sluice cancel ID...

Cancels tasks. A queued task never runs; a running one is stopped by the
process running it within a couple of seconds (a command is killed) and its
outcome is discarded. Either way the task ends cancelled.

Examples:
  sluice cancel 42
  sluice cancel 42 43 44
`

func runCancel(ctx context.Context, m *Main, args []string) error {
	fs := newFlagSet(m, "cancel", cancelUsage)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("cancel: missing task ID")
	}
	ids := make([]int64, fs.NArg())
	for i, a := range fs.Args() {
		id, err := strconv.ParseInt(a, 10, 64)
		if err != nil || id <= 0 {
			return usagef("cancel: %q is not a task id", a)
		}
		ids[i] = id
	}
	_, store, err := m.openStore(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	var bad []error
	for _, id := range ids {
		prev, err := store.Cancel(ctx, id)
		switch {
		case errors.Is(err, queue.ErrNotFound), errors.Is(err, queue.ErrNotCancellable):
			bad = append(bad, err)
		case err != nil:
			return err
		case prev == queue.Running:
			fmt.Fprintf(m.Stdout, "%d: cancelled; its worker stops it within seconds\n", id)
		default:
			fmt.Fprintf(m.Stdout, "%d: cancelled\n", id)
		}
	}
	if len(bad) > 0 {
		return usagef("%v", errors.Join(bad...))
	}
	return nil
}
