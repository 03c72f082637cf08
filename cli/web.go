package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/sluicehq/sluice/metrics"
	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/web"
)

// DefaultWebAddr is where sluice web listens unless told: loopback only,
// since the pages show payloads and errors.
const DefaultWebAddr = "127.0.0.1:8080"

const webUsage = `
Usage: sluice web [-addr host:port]

Serves the web pages for the queue in SLUICE_DB (a SQLite file or a
PostgreSQL URL) and runs no tasks: for deployments whose drains are one-shot
(a timer, a cron job), so that there is something to look at between them.
It reads in read-only transactions that never hold up a drain writing the
same database. sluice run serves the same pages on SLUICE_HTTP_ADDR beside
/metrics.

Pages: the overview (backlog per queue, throughput, failures, running
tasks), failures (filtered, grouped by error), one task with every attempt,
tasks by state, and schedules. They refresh themselves with JavaScript on
and work without it.

The pages are read-only unless SLUICE_WEB_TOKEN is set: then retry, cancel,
pause, resume and run now work for POSTs from the pages' own origin that
carry the token (form field, or "Authorization: Bearer <token>"). Without
a token a SQLite file is opened read-only.

It listens on loopback unless -addr says otherwise; put a proxy with TLS
and its own authentication in front to reach it from elsewhere (README).
SIGTERM or SIGINT stops it.

Examples:
  sluice web
  sluice web -addr 127.0.0.1:9999
  SLUICE_WEB_TOKEN=$(cat /etc/sluice/web-token) SLUICE_DB=/var/lib/sluice/sluice.db sluice web
  SLUICE_DB=postgres://sluice@db.internal/app sluice web -addr 127.0.0.1:9999
`

func runWeb(ctx context.Context, m *Main, args []string) error {
	fs := newFlagSet(m, "web", webUsage)
	addr := fs.String("addr", DefaultWebAddr, "`host:port` to listen on (:8080 for every interface)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("web takes no arguments, got %q", fs.Args())
	}
	e, err := m.env()
	if err != nil {
		return err
	}
	// Without a token nothing is written: open the file as read-only commands do.
	store, err := e.open(ctx, e.cfg.WebToken == "")
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return errors.Join(fmt.Errorf("web: %w", err), store.Close())
	}
	e.log.Info("serving the web pages", "addr", ln.Addr().String(), "db", redactURL(e.cfg.DB), "actions", e.cfg.WebToken != "")
	err = metrics.ServeListener(ctx, ln, e.webHandler(store), metrics.ServeOpts{})
	if err = errors.Join(err, store.Close()); err != nil {
		return fmt.Errorf("web: %w", err)
	}
	return nil
}

// webHandler serves the web pages for store with the configuration's token,
// default attempts, clock and logger.
func (e *env) webHandler(store queue.Backend) http.Handler {
	return web.Handler(store, web.Opts{
		Token:              e.cfg.WebToken,
		DefaultMaxAttempts: e.cfg.MaxAttempts,
		Now:                e.now,
		Log:                e.log,
	})
}
