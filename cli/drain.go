package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sluicehq/sluice/metrics"
	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/worker"
)

const drainUsage = `
Usage: sluice drain [flags]

Fires every due schedule (after syncing SLUICE_SCHEDULES when it is set),
then runs every task that is due, writes each outcome back, and exits when
none is due and none is running. For a systemd timer, a scheduled Machine, a
Kubernetes CronJob, or by hand.

While it runs it removes old finished tasks as SLUICE_KEEP_SUCCEEDED and
SLUICE_KEEP_FAILED say, 500 per transaction, beside the claims. It reports
progress (done, left, rate, time to go) in the log every 10s, or on a
line of its own when standard error is a terminal.

SIGTERM or SIGINT stops claiming, lets running tasks finish within
SLUICE_SHUTDOWN_GRACE, records everything and exits 0. A second signal exits
at once; other workers take back whatever was running once its heartbeat
is stale (SLUICE_STALE_AFTER).

Examples:
  sluice drain
  sluice drain -max-tasks 100
  SLUICE_WORKERS=8 SLUICE_DB=/var/lib/sluice/sluice.db sluice drain
  SLUICE_METRICS_FILE=/var/lib/node_exporter/textfile/sluice.prom sluice drain

With SLUICE_METRICS_FILE set, the drain writes its metrics (tasks by job and
outcome, durations, queue depth and oldest wait, schedules fired) to that
file when it ends, replacing it atomically; counters add up across drains.
`

func runDrain(ctx context.Context, m *Main, args []string) error {
	fs := newFlagSet(m, "drain", drainUsage)
	maxTasks := fs.Int("max-tasks", 0, "stop after claiming this many tasks (0: no limit)")
	deadline := fs.Duration("deadline", 0, "stop claiming after this long (default SLUICE_DRAIN_DEADLINE; 0: none)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("drain takes no arguments, got %q", fs.Args())
	}
	if *maxTasks < 0 {
		return usagef("-max-tasks %d: must not be negative", *maxTasks)
	}
	if *deadline < 0 {
		return usagef("-deadline %s: must not be negative", *deadline)
	}
	e, err := m.env()
	if err != nil {
		return err
	}
	defer e.closeJobs()
	if *deadline == 0 {
		*deadline = e.cfg.DrainDeadline
	}
	if err := checkMetricsFolder(e.cfg.MetricsFile); err != nil {
		return err
	}
	if err := e.cfg.CheckPrograms(); err != nil {
		return err
	}
	store, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	var met *metrics.Metrics
	var onFirings func([]queue.Firing)
	if e.cfg.MetricsFile != "" {
		met = metrics.New(store, metrics.NewOpts{})
		onFirings = met.Fired
	}
	if err := e.fireSchedules(ctx, store, onFirings); err != nil {
		return errors.Join(fmt.Errorf("drain: %w", err), store.Close())
	}
	opts := e.workerOptions()
	var live *liveLine
	if isTerminal(m.Stderr) {
		// A live progress line instead of progress logs; logs print above it.
		width := m.width(m.Stderr)
		if width == 0 {
			width = 80 // a terminal that does not say its size
		}
		live = &liveLine{w: m.Stderr, width: width}
		opts.Logger = newLogger(e.cfg, live, m.Environ)
		opts.Progress = func(p worker.Progress) { live.Set(progressLine(p)) }
		opts.ProgressEvery = liveEvery
	}
	if met != nil {
		opts.OnOutcomes = met.Observe
	}
	e.logContainment()
	w := worker.New(store, e.jobs, opts)
	sum, err := w.Drain(ctx, worker.DrainOpts{MaxTasks: *maxTasks, Deadline: *deadline})
	if s := sqliteOnly(store); s != nil {
		err = s.DB().Diagnose(err)
	}
	if met != nil {
		err = errors.Join(err, met.WriteFile(e.cfg.MetricsFile))
	}
	err = errors.Join(err, store.Close())
	if live != nil {
		live.Clear()
	}
	printSummary(m, e.log, "drained", sum)
	if err != nil {
		return fmt.Errorf("drain: %w", err)
	}
	return nil
}

// checkMetricsFolder fails before any task runs if the metrics file could
// not be written at the end.
func checkMetricsFolder(path string) error {
	if path == "" {
		return nil
	}
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("SLUICE_METRICS_FILE: folder %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("SLUICE_METRICS_FILE: %s is not a folder", dir)
	}
	return nil
}

func (e *env) workerOptions() worker.Options {
	c := e.cfg
	return worker.Options{
		Workers:       c.Workers,
		Queues:        c.Queues,
		Timeout:       c.Timeout,
		LeaseMargin:   c.LeaseMargin(),
		KillGrace:     c.KillGrace,
		MaxAttempts:   c.MaxAttempts,
		Backoff:       worker.Backoff{Base: c.BackoffBase, Max: c.BackoffMax},
		ShutdownGrace: c.ShutdownGrace,
		Heartbeat:     c.Heartbeat,
		StaleAfter:    c.StaleAfter,
		Version:       Version,
		Logger:        e.log,
		Now:           e.now,
		Retention: worker.Retention{
			Succeeded: c.KeepSucceeded,
			Failed:    c.KeepFailed,
			Cancelled: c.KeepFailed,
		},
	}
}

// fireSchedules syncs SLUICE_SCHEDULES and fires every due schedule once,
// telling onFirings (if set) what fired.
func (e *env) fireSchedules(ctx context.Context, store queue.Backend, onFirings func([]queue.Firing)) error {
	if err := e.syncDeclared(ctx, store); err != nil {
		return err
	}
	firings, err := store.FireDue(ctx)
	worker.LogFirings(e.log, firings)
	if onFirings != nil {
		onFirings(firings)
	}
	return err
}
