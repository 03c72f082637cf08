package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/sluicehq/sluice/metrics"
	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/worker"
)

const runUsage = `
Usage: sluice run

Works until SIGTERM or SIGINT: fires each schedule at its due time, runs
tasks as they become due with SLUICE_WORKERS at once, and takes back the
tasks of workers that died once their heartbeat is older than
SLUICE_STALE_AFTER. A task enqueued by this process starts at once; one
inserted by another process (sluice enqueue, SQL) starts within SLUICE_POLL.
Between events it sleeps until the next due task, stale heartbeat or
schedule: there is no fixed tick. SLUICE_SCHEDULES, when set, is synced at
start.

Like drain, it removes old finished tasks as SLUICE_KEEP_SUCCEEDED and
SLUICE_KEEP_FAILED say, at start and then every minute, in small batches
beside the claims. It logs no progress lines (it has no end to estimate);
its summary when it stops says what it did.

With SLUICE_HTTP_ADDR set (off by default), it serves Prometheus metrics
on /metrics (tasks by job and outcome, durations, queue depth and oldest
wait, schedules fired), /healthz, which answers 503 when the database
cannot be read, and the web pages on / (see sluice help web; read-only
unless SLUICE_WEB_TOKEN is set).

SIGTERM or SIGINT stops claiming, lets running tasks finish within
SLUICE_SHUTDOWN_GRACE, records everything and exits 0. A second signal exits
at once; other workers take back whatever was running once its heartbeat
is stale. The HTTP server keeps answering during the grace and stops with
the run.

Under systemd with Type=notify (NOTIFY_SOCKET set) it says READY=1 once
it works and STOPPING=1 on the signal, and with WatchdogSec it sends
WATCHDOG=1 at half that period while the database answers.

Examples:
  sluice run
  SLUICE_HTTP_ADDR=127.0.0.1:9090 sluice run
  SLUICE_WORKERS=8 SLUICE_POLL=250ms SLUICE_DB=/var/lib/sluice/q.db sluice run
  SLUICE_SCHEDULES='[{"name":"feeds","job":"poll_feeds","type":"minutes",
    "every":15}]' sluice run
`

func runRun(ctx context.Context, m *Main, args []string) error {
	fs := newFlagSet(m, "run", runUsage)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("run takes no arguments, got %q", fs.Args())
	}
	notify, err := newNotifier(m.Environ)
	if err != nil {
		return err
	}
	e, err := m.env()
	if err != nil {
		return err
	}
	defer e.closeJobs()
	if err := e.cfg.CheckPrograms(); err != nil {
		return err
	}
	store, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	if err := e.syncDeclared(ctx, store); err != nil {
		return errors.Join(fmt.Errorf("run: %w", err), store.Close())
	}
	opts := e.workerOptions()
	runOpts := worker.RunOpts{Poll: e.cfg.Poll}
	runCtx, stopRun := context.WithCancelCause(ctx)
	defer stopRun(nil)
	var srv *httpServer
	if e.cfg.HTTPAddr != "" {
		// Listen before any task runs, so a port in use fails the start.
		ln, err := net.Listen("tcp", e.cfg.HTTPAddr)
		if err != nil {
			return errors.Join(fmt.Errorf("run: SLUICE_HTTP_ADDR: %w", err), store.Close())
		}
		met := metrics.New(store, metrics.NewOpts{})
		opts.OnOutcomes = met.Observe
		runOpts.OnFirings = met.Fired
		srv = startHTTP(ctx, ln, e.runHandler(met.Handler(store.Ping, e.log), store), stopRun)
		e.log.Info("serving /metrics, /healthz and the web pages", "addr", ln.Addr().String(), "actions", e.cfg.WebToken != "")
	}
	e.logContainment()
	e.log.Info("running until signalled", "workers", e.cfg.Workers, "poll", e.cfg.Poll, "db", redactURL(e.cfg.DB))
	stopNotify := notify.ready(ctx, store.Ping, func(err error) { e.log.Warn("systemd notify failed", "err", err) })
	w := worker.New(store, e.jobs, opts)
	sum, err := w.Run(runCtx, runOpts)
	stopNotify()
	if srv != nil {
		err = errors.Join(err, srv.stop())
	}
	err = errors.Join(err, store.Close())
	printSummary(m, e.log, "ran", sum)
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	return nil
}

// runHandler serves /metrics and /healthz from met and the web pages on
// every other path.
func (e *env) runHandler(met http.Handler, store queue.Backend) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", met)
	mux.Handle("/healthz", met)
	mux.Handle("/", e.webHandler(store))
	return mux
}

// httpServer is a run's metrics server. It outlives the signal that stops
// the run, so /metrics and /healthz answer during the shutdown grace, and
// stops once the run has returned.
type httpServer struct {
	cancel context.CancelFunc
	done   chan error
}

// startHTTP serves h on ln until stop. If serving fails, it stops the run
// through stopRun (the graceful way) and stop returns the error.
func startHTTP(ctx context.Context, ln net.Listener, h http.Handler, stopRun context.CancelCauseFunc) *httpServer {
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &httpServer{cancel: cancel, done: make(chan error, 1)}
	go func() {
		err := metrics.ServeListener(sctx, ln, h, metrics.ServeOpts{})
		if err != nil && sctx.Err() == nil {
			stopRun(err)
		}
		s.done <- err
	}()
	return s
}

// stop shuts the server down, letting open requests finish briefly
// (metrics.ServeListener bounds it), and returns why it ended if it failed.
func (s *httpServer) stop() error {
	s.cancel()
	return <-s.done
}
