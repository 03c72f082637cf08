package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sluicehq/sluice/worker"
)

// shutdownTimeout bounds how long Serve waits for open requests at the end.
const shutdownTimeout = 5 * time.Second

// Defaults for ServeOpts. The port may be reachable by anyone on the host
// (or the network): a client that sends slowly, never finishes reading, or
// keeps connections open must not hold the server's resources for ever.
const (
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 10 * time.Second
	// DefaultWriteTimeout leaves room for the queue statistics read
	// (DefaultStatsTimeout) behind a scrape.
	DefaultWriteTimeout   = 30 * time.Second
	DefaultIdleTimeout    = 60 * time.Second
	DefaultMaxHeaderBytes = 8 << 10 // a scrape's headers take a few hundred bytes
)

// ServeOpts bounds what a client may cost the server. Zero fields take the
// defaults.
type ServeOpts struct {
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	MaxHeaderBytes                                            int
}

// server returns the http.Server for h with o's limits.
func (o ServeOpts) server(h http.Handler) *http.Server {
	or := func(d, def time.Duration) time.Duration {
		if d > 0 {
			return d
		}
		return def
	}
	maxHeader := o.MaxHeaderBytes
	if maxHeader <= 0 {
		maxHeader = DefaultMaxHeaderBytes
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: or(o.ReadHeaderTimeout, DefaultReadHeaderTimeout),
		ReadTimeout:       or(o.ReadTimeout, DefaultReadTimeout),
		WriteTimeout:      or(o.WriteTimeout, DefaultWriteTimeout),
		IdleTimeout:       or(o.IdleTimeout, DefaultIdleTimeout),
		MaxHeaderBytes:    maxHeader,
	}
}

// Handler serves /metrics (Sluice's metrics plus the Go runtime's and the
// process's) and /healthz, which answers 200 "ok" while health returns nil
// and 503 "unhealthy" otherwise: the error, which may name paths and
// internals, goes to log only, not to whoever asked. health may be nil.
// Errors gathering metrics (a database read that failed) are logged to log,
// which may be nil.
func (m *Metrics) Handler(health func(context.Context) error, log *slog.Logger) http.Handler {
	runtime := prometheus.NewRegistry()
	runtime.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	opts := promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}
	if log != nil {
		opts.ErrorLog = errorLog{log}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(prometheus.Gatherers{m.reg, runtime}, opts))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if health != nil {
			if err := health(r.Context()); err != nil {
				if log != nil {
					log.Warn("health check failed", worker.KeyErr, err)
				}
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprintln(w, "unhealthy")
				return
			}
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}

// errorLog adapts slog to promhttp's logger.
type errorLog struct{ log *slog.Logger }

func (l errorLog) Println(v ...any) { l.log.Warn("gather metrics", worker.KeyErr, fmt.Sprint(v...)) }

// Serve listens on addr (host:port; ":9090" for every interface) and serves
// h until ctx ends, then shuts down, letting open requests finish briefly.
func Serve(ctx context.Context, addr string, h http.Handler, opts ServeOpts) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("serve metrics: %w", err)
	}
	return ServeListener(ctx, ln, h, opts)
}

// ServeListener is like Serve on a listener the caller opened (tests listen
// on port 0 and read the address back). It closes ln.
func ServeListener(ctx context.Context, ln net.Listener, h http.Handler, opts ServeOpts) error {
	srv := opts.server(h)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("serve metrics on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-done; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	if err != nil {
		return fmt.Errorf("stop serving metrics: %w", err)
	}
	return nil
}
