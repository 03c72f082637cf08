package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/worker"
)

const runUsage = `
Usage: sluice run

Works until SIGTERM or SIGINT: fires each schedule at its due time, runs
tasks as they become due with SLUICE_WORKERS at once, and takes back the
tasks of workers that died once their leases expire. A task enqueued by this
process starts at once; one inserted by another process (sluice enqueue, SQL)
starts within SLUICE_POLL. Between events it sleeps until the next due task,
lease expiry or schedule: there is no fixed tick. SLUICE_SCHEDULES, when set,
is synced at start.

SIGTERM or SIGINT stops claiming, lets running tasks finish within
SLUICE_SHUTDOWN_GRACE, records everything and exits 0. A second signal exits
at once; leases bring back whatever was running.

Examples:
  sluice run
  SLUICE_WORKERS=8 SLUICE_POLL=250ms SLUICE_DB=/var/lib/sluice/sluice.db sluice run
  SLUICE_SCHEDULES='[{"name":"feeds","job":"poll_feeds","type":"minutes","every":15}]' sluice run
`

func runRun(ctx context.Context, m *Main, args []string) error {
	fs := newFlagSet(m, "run", runUsage)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("run takes no arguments, got %q", fs.Args())
	}
	e, err := m.env()
	if err != nil {
		return err
	}
	store, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	if err := e.syncDeclared(ctx, store); err != nil {
		return errors.Join(fmt.Errorf("run: %w", err), store.Close())
	}
	e.log.Info("running until signalled", "workers", e.cfg.Workers, "poll", e.cfg.Poll, "db", e.cfg.DB)
	w := worker.New(store, e.jobs, e.workerOptions())
	sum, err := w.Run(ctx, worker.RunOpts{Poll: e.cfg.Poll})
	err = errors.Join(err, store.Close())
	printSummary(m, "ran", sum)
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	return nil
}
