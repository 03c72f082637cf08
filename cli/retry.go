package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/queue"
)

const retryUsage = `
Usage: sluice retry [flags] ID...
       sluice retry -failed [-job JOB] [-dry-run]

Puts failed or cancelled tasks back in the queue, due now, with fresh
attempts; their history is kept, with an entry marking the retry.

With IDs it is all or nothing: if any id is unknown, not failed or
cancelled, or has a unique key another queued or running task holds,
nothing changes and every such id is named. With -failed it retries every
failed task (of one job with -job), 500 per transaction so workers keep
running; tasks whose unique key is taken are skipped and counted. With
-dry-run it says how many it would retry and changes nothing.

An unknown id, or a task that is not failed or cancelled, exits 1.

Examples:
  sluice retry 42
  sluice retry 42 43 57
  sluice retry -failed
  sluice retry -failed -job send_mail -dry-run
  sluice retry -json 42 43
`

// retryJSON is sluice retry -json.
type retryJSON struct {
	Retried []int64 `json:"retried,omitempty"` // with IDs
	Count   int     `json:"count"`             // tasks retried (or, with -dry-run, that would be)
	Skipped int     `json:"skipped"`           // -failed: tasks whose unique key is taken
	DryRun  bool    `json:"dry_run,omitempty"`
}

func runRetry(ctx context.Context, m *Main, args []string) error {
	fs := newFlagSet(m, "retry", retryUsage)
	failed := fs.Bool("failed", false, "retry every failed task")
	job := fs.String("job", "", "with -failed: only this `job`'s tasks")
	dryRun := fs.Bool("dry-run", false, "with -failed: say how many would be retried, change nothing")
	asJSON := fs.Bool("json", false, "print JSON instead of text")
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
	case *dryRun && !*failed:
		return usagef("retry: -dry-run only goes with -failed (retrying IDs is all or nothing already)")
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
		retry := store.RetryFailed
		verb := "retried"
		if *dryRun {
			retry, verb = store.RetryFailedDryRun, "would retry"
		}
		res, err := retry(ctx, *job)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(m.Stdout, retryJSON{Count: res.Retried, Skipped: res.Skipped, DryRun: *dryRun})
		}
		what := plural(res.Retried, "failed task", "failed tasks")
		if *job != "" {
			what = fmt.Sprintf("failed %s %s", *job, plural(res.Retried, "task", "tasks"))
		}
		fmt.Fprintf(m.Stdout, "%s %d %s", verb, res.Retried, what)
		if res.Skipped > 0 {
			fmt.Fprintf(m.Stdout, "; skipped %d whose unique key another queued or running task holds", res.Skipped)
		}
		fmt.Fprintln(m.Stdout)
		return nil
	}
	err = store.Retry(ctx, ids)
	if errors.Is(err, queue.ErrNotFound) || errors.Is(err, queue.ErrNotRetryable) || errors.Is(err, queue.ErrKeyHeld) {
		return refused("retry", err)
	}
	if err != nil {
		return err
	}
	ids = unique(ids)
	if *asJSON {
		return writeJSON(m.Stdout, retryJSON{Retried: ids, Count: len(ids)})
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
