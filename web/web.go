// Package web serves the operator's pages: an overview of the queue, the
// failures with retry, one task with its attempts, tasks by state, and the
// schedules. Everything it shows comes from the store contract's reads
// (queue.Backend), on SQLite or PostgreSQL alike; it has no SQL of its own.
package web

import (
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/sluicehq/sluice/queue"
)

// DefaultRefresh is how often an open page reloads its content.
const DefaultRefresh = 5 * time.Second

// maxForm caps the body of an action (a retry of a selection sends ids).
const maxForm = 1 << 20

// Opts tunes Handler.
type Opts struct {
	// Token enables the actions (retry, cancel, pause, resume, run now): a
	// request must carry it as the form field "token" or as
	// "Authorization: Bearer <token>". Empty: the pages are read-only.
	Token string
	// DefaultMaxAttempts is shown for tasks that leave it to the worker (SLUICE_MAX_ATTEMPTS).
	DefaultMaxAttempts int
	// Refresh is how often a page reloads its content (JavaScript); default DefaultRefresh.
	Refresh time.Duration
	// Now is the clock for ages ("3m ago"); default time.Now.
	Now func() time.Time
	// Log receives the errors the pages hide from the browser; default slog.Default().
	Log *slog.Logger
}

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// server holds a Handler's state.
type server struct {
	store queue.Backend
	opts  Opts
	pages map[string]*template.Template
}

// Handler serves the pages on /, /failures, /tasks, /tasks/{id} and
// /schedules, their assets on /static/, and the actions as POSTs, each
// refused unless it carries opts.Token and, from a browser, comes from the
// pages' own origin (http.CrossOriginProtection).
func Handler(store queue.Backend, opts Opts) http.Handler {
	if opts.Refresh <= 0 {
		opts.Refresh = DefaultRefresh
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	s := &server{store: store, opts: opts, pages: parsePages()}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.overview)
	mux.HandleFunc("GET /failures", s.failures)
	mux.HandleFunc("GET /tasks", s.tasks)
	mux.HandleFunc("GET /tasks/{id}", s.task)
	mux.HandleFunc("GET /schedules", s.schedules)
	static, _ := fs.Sub(staticFiles, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))

	actions := http.NewServeMux()
	actions.HandleFunc("POST /retry", s.retry)
	actions.HandleFunc("POST /tasks/{id}/cancel", s.cancel)
	actions.HandleFunc("POST /schedules/{name}/{action}", s.scheduleAction)
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.refuse(w, r, http.StatusForbidden, "Refused: this request came from another site.")
	}))
	guarded := cop.Handler(s.authorize(actions))
	mux.Handle("POST /retry", guarded)
	mux.Handle("POST /tasks/{id}/cancel", guarded)
	mux.Handle("POST /schedules/{name}/{action}", guarded)
	return secureHeaders(mux)
}

// secureHeaders sets the headers every answer carries: no script, style or
// frame from anywhere but the pages themselves, no sniffing, no caching of
// queue contents.
func secureHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "+
			"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("X-Frame-Options", "DENY")
		if !strings.HasPrefix(r.URL.Path, "/static/") {
			hd.Set("Cache-Control", "no-store")
		}
		h.ServeHTTP(w, r)
	})
}
