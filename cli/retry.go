package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/queue"
)

const retryUsage = `
Usage: sluice retry ID...
       sluice retry -failed [-job JOB]

Puts failed or cancelled tasks back in the queue, due now, with fresh
attempts; their history is kept, with an entry marking the retry.

With IDs it is all or nothing: if any id is unknown, not failed or
cancelled, or has a unique key another queued or running task holds,
nothing changes and every such id is named. With -failed it retries every
failed task (of one job with -job), 500 per transaction so workers keep
running; tasks whose unique key is taken are skipped and counted.

Examples:
  sluice retry 42
  sluice retry 42 43 57
  sluice retry -failed
  sluice retry -failed -job send_mail
`

func runRetry(ctx context.Context, m *Main, args []string) error {
	fs := newFlagSet(m, "retry", retryUsage)
	failed := fs.Bool("failed", false, "retry every failed task")
	job := fs.String("job", "", "with -failed: only this job's tasks")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case *failed && fs.NArg() > 0:
		return usagef("retry: give task IDs or -failed, not both")
	case !*failed && fs.NArg() == 0:
		return usagef("retry: give task IDs, or -failed for every failed task")
	case *job != "" && !*failed:
		return usagef("retry: -job only goes with -failed")
	}
	ids := make([]int64, 0, fs.NArg())
	for _, a := range fs.Args() {
		id, err := parseID(a)
		if err != nil {
			return usagef("retry: %v", err)
		}
		ids = append(ids, id)
	}
	_, store, err := m.openStore(ctx)
	if err != nil {
		return err
	}
	defer store.Close()

	if *failed {
		res, err := store.RetryFailed(ctx, *job)
		if err != nil {
			return err
		}
		what := "failed tasks"
		if *job != "" {
			what = fmt.Sprintf("failed %s tasks", *job)
		}
		fmt.Fprintf(m.Stdout, "retried %d %s", res.Retried, what)
		if res.Skipped > 0 {
			fmt.Fprintf(m.Stdout, "; skipped %d whose unique key another queued or running task holds", res.Skipped)
		}
		fmt.Fprintln(m.Stdout)
		return nil
	}
	err = store.Retry(ctx, ids)
	if errors.Is(err, queue.ErrNotFound) || errors.Is(err, queue.ErrNotRetryable) || errors.Is(err, queue.ErrKeyHeld) {
		// One line per refused task; nothing was changed.
		return usagef("retry refused, nothing changed:\n  %s", strings.ReplaceAll(strings.TrimPrefix(err.Error(), "retry: "), "\n", "\n  "))
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "retried %d %s\n", len(ids), plural(len(ids), "task", "tasks"))
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
