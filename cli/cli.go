// Package cli implements the sluice command line: one file per subcommand,
// each parsing its own flags and printing its own usage.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/lmittmann/tint"
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/jobs"
	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/sqlitewal"
	"github.com/sluicehq/sluice/supervisor"
)

// Exit codes, as systemd units and container platforms rely on them.
const (
	ExitOK      = 0
	ExitFailure = 1  // a runtime error: the database, a signal, ...
	ExitUsage   = 2  // a bad command line
	ExitConfig  = 78 // EX_CONFIG: a bad environment variable; restarting will not help
)

// UsageError is a bad command line; it exits with ExitUsage.
type UsageError struct {
	Msg      string
	Cmd      string // the command whose help to point at ("schedule add"); empty: sluice help
	Synopsis string // the command's Usage lines, printed after a bad flag
}

func (e *UsageError) Error() string { return e.Msg }

func usagef(format string, args ...any) error { return &UsageError{Msg: fmt.Sprintf(format, args...)} }

// ExitCode maps an error returned by Main.Run to the process exit code:
// ExitUsage, ExitConfig, jobs.ExitPermanent or ExitFailure.
func ExitCode(err error) int {
	var ue *UsageError
	var ce *config.Error
	var es exitStatus
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &es):
		return int(es)
	case errors.As(err, &ue):
		return ExitUsage
	case errors.As(err, &ce):
		return ExitConfig
	case jobs.IsPermanent(err):
		// Only `sluice handle` returns these: the parent reads the status as
		// "fail the task, do not retry".
		return jobs.ExitPermanent
	}
	return ExitFailure
}

// PrintError writes err for a person: one problem per line.
func PrintError(w io.Writer, err error) {
	var ce *config.Error
	var es exitStatus
	if errors.As(err, &es) {
		return // the hidden command said what it had to
	}
	if errors.As(err, &ce) {
		fmt.Fprintf(w, "sluice: invalid configuration (%d %s):\n", len(ce.Problems), plural(len(ce.Problems), "problem", "problems"))
		for _, p := range ce.Problems {
			fmt.Fprintf(w, "  %s\n", printable(p, true))
		}
		return
	}
	fmt.Fprintf(w, "sluice: %s\n", printable(err.Error(), true))
	var ue *UsageError
	if errors.As(err, &ue) {
		if ue.Synopsis != "" {
			fmt.Fprintln(w, ue.Synopsis)
		}
		if ue.Cmd == "" {
			fmt.Fprintln(w, "Run 'sluice help' for usage.")
		} else {
			fmt.Fprintf(w, "Run 'sluice %s -h' for usage.\n", ue.Cmd)
		}
	}
}

// Main is the sluice program. A Go program that registers its own handlers
// can run the whole command line with them:
//
//	reg := jobs.NewRegistry()
//	reg.Register("send_mail", sendMail)
//	err := (&cli.Main{Jobs: reg, Environ: os.Environ(), ...}).Run(ctx, os.Args[1:])
type Main struct {
	Jobs    *jobs.Registry // Go handlers; nil means only the built-in jobs
	Environ []string       // KEY=VALUE, as os.Environ returns
	Stdin   io.Reader
	Stdout  io.Writer
	Stderr  io.Writer
	// Now is the clock of every command (ages, due times, leases); nil means
	// time.Now. Tests fix it so output does not depend on the wall clock.
	Now func() time.Time
	// Width is the width tables are laid out for; 0 means the width of
	// Stdout when it is a terminal, else no limit (a pipe gets every
	// character). Tests set it.
	Width int

	onFlagSet func(*flag.FlagSet) // completion sees each command's flags
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, m *Main, args []string) error
}

func commands() []command {
	return []command{
		{"drain", "run every due task, then exit", runDrain},
		{"run", "work until signalled: fire schedules, run tasks as they come", runRun},
		{"enqueue", "add a task to the queue", runEnqueue},
		{"schedule", "add, list, show, remove, pause or resume schedules", runSchedule},
		{"cancel", "cancel queued or running tasks", runCancel},
		{"status", "show the queue at a glance", runStatus},
		{"web", "serve the web pages for the queue; runs no tasks", runWeb},
		{"tasks", "list tasks, filtered", runTasks},
		{"show", "show one task with its payload, result and history", runShow},
		{"groups", "summarize tasks by group", runGroups},
		{"retry", "queue failed or cancelled tasks again", runRetry},
		{"purge", "delete finished tasks by age or count", runPurge},
		{"config", "print the effective configuration", runConfig},
		{"version", "print the version", runVersion},
		{"completion", "print a shell completion script (bash, zsh or fish)", runCompletion},
		{"help", "show help for a command", runHelp},
	}
}

// Run runs the subcommand named by args[0]. Cancelling ctx asks a running
// drain to stop gracefully.
func (m *Main) Run(ctx context.Context, args []string) error {
	if m.Stdout == nil {
		m.Stdout = io.Discard
	}
	if m.Stderr == nil {
		m.Stderr = io.Discard
	}
	if m.Stdin == nil {
		m.Stdin = strings.NewReader("")
	}
	if len(args) == 0 {
		printUsage(m.Stderr)
		return usagef("no command given")
	}
	switch args[0] {
	case "-h", "-help", "--help":
		printUsage(m.Stdout)
		return nil
	case "-version", "--version":
		args = []string{"version"}
	case handleCommand:
		return runHandle(ctx, m, args[1:])
	case supervisor.Command:
		return runSupervise(m, args[1:])
	case completeCommand:
		return runComplete(m, args[1:])
	}
	for _, c := range commands() {
		if c.name == args[0] {
			err := c.run(ctx, m, args[1:])
			if errors.Is(err, errHelp) {
				return nil
			}
			return withCmd(err, c.name)
		}
	}
	return usagef("unknown command %q", args[0])
}

// withCmd points a usage error without a command at cmd's help.
func withCmd(err error, cmd string) error {
	var ue *UsageError
	if errors.As(err, &ue) && ue.Cmd == "" {
		ue.Cmd = cmd
	}
	return err
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, `Sluice drains a task queue kept in a SQLite file.

Usage:
  sluice <command> [flags] [arguments]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Configuration comes from SLUICE_* environment variables only: 'sluice config'.
Run 'sluice help <command>' for a command's flags and examples.
`)
}

// env is what most commands need: the configuration, a logger and the jobs.
type env struct {
	cfg  config.Config
	log  *slog.Logger
	jobs *jobs.Registry
	now  func() time.Time
	// containment is what contains exec jobs' processes (see supervision).
	containment supervisor.Containment
	// declared holds SLUICE_SCHEDULES, parsed; nil when it is not set.
	declared []queue.ScheduleParams
}

func (m *Main) env() (*env, error) {
	now := m.Now
	if now == nil {
		now = time.Now
	}
	base := m.Jobs
	if base == nil {
		base = jobs.NewRegistry()
	}
	known := func(job string) error {
		_, err := base.Lookup(job)
		return err
	}
	cfg, err := config.ParseWith(m.Environ, config.ParseOpts{Now: now, KnownJob: known})
	if err != nil {
		return nil, err
	}
	reg, containment, err := m.registry(cfg)
	if err != nil {
		return nil, err
	}
	return &env{cfg: cfg, log: newLogger(cfg, m.Stderr, m.Environ), jobs: reg, now: now, declared: cfg.Declared,
		containment: containment}, nil
}

// registry returns the jobs this process runs: the Go handlers, the exec jobs
// from SLUICE_EXEC_*, and Go handlers moved to child processes when
// SLUICE_ISOLATION=process (or per job); every child process runs under a
// supervisor where the system has them.
func (m *Main) registry(cfg config.Config) (*jobs.Registry, supervisor.Containment, error) {
	base := m.Jobs
	if base == nil {
		base = jobs.NewRegistry()
	}
	self, err := os.Executable()
	if err != nil {
		return nil, supervisor.Containment{}, fmt.Errorf("find own executable for process isolation: %w", err)
	}
	sup, containment, err := supervision(cfg, self)
	if err != nil {
		return nil, containment, err
	}
	cmd := jobs.Command{Argv: []string{self, handleCommand}, KillGrace: cfg.KillGrace, Supervisor: sup}
	reg := base.Isolate(cmd, cfg.Isolation == "process")
	var problems []string
	for name, argv := range cfg.Exec {
		if _, err := reg.Lookup(name); err == nil {
			problems = append(problems, fmt.Sprintf("%s%s: job %q is already defined by a Go handler", config.ExecPrefix, strings.ToUpper(name), name))
			continue
		}
		cmd.Argv = argv
		reg.Add(jobs.Exec(name, cmd))
	}
	problems = append(problems, addWarm(reg, cfg, sup)...)
	if len(problems) > 0 {
		return nil, containment, &config.Error{Problems: problems}
	}
	return reg, containment, nil
}

// openStore reads the environment and opens the queue: what every command
// that changes the queue starts with. The caller closes the store.
func (m *Main) openStore(ctx context.Context) (*env, queue.Backend, error) {
	return m.open(ctx, false)
}

// openReader is like openStore for a command that only reads the queue: it
// never creates, migrates or changes the file, and names it when missing.
func (m *Main) openReader(ctx context.Context) (*env, queue.Backend, error) {
	return m.open(ctx, true)
}

func (m *Main) open(ctx context.Context, readOnly bool) (*env, queue.Backend, error) {
	e, err := m.env()
	if err != nil {
		return nil, nil, err
	}
	store, err := e.open(ctx, readOnly)
	if err != nil {
		return nil, nil, err
	}
	return e, store, nil
}

// openStore opens the queue file SLUICE_DB names, with e's clock.
func (e *env) openStore(ctx context.Context) (queue.Backend, error) { return e.open(ctx, false) }

// openReader is like openStore for a command that only reads.
func (e *env) openReader(ctx context.Context) (queue.Backend, error) { return e.open(ctx, true) }

// open opens the queue and logs which file it is (and whether it was just
// created): a mistyped SLUICE_DB would otherwise make a new, empty queue
// without a word. A postgres:// or postgresql:// URL opens the PostgreSQL
// store instead (openPostgres).
func (e *env) open(ctx context.Context, readOnly bool) (queue.Backend, error) {
	if isPostgresURL(e.cfg.DB) {
		return e.openPostgres(ctx)
	}
	_, statErr := os.Stat(e.cfg.DB)
	opts := queue.OpenOptions()
	opts.ReadOnly = readOnly
	opts.Shared = e.cfg.SharedDB
	opts.AllowNetworkFS = e.cfg.NetworkFS
	opts.Sync = sqlitewal.Sync(e.cfg.Sync)
	db, err := sqlitewal.Open(ctx, e.cfg.DB, opts)
	if err != nil {
		return nil, hint(err)
	}
	e.log.Info("database opened", "db", db.Path, "created", errors.Is(statErr, fs.ErrNotExist))
	return queue.New(db, queue.NewOpts{Now: e.now}), nil
}

// hint adds the setting that opts in to what sqlitewal refused.
func hint(err error) error {
	switch {
	case errors.Is(err, sqlitewal.ErrForeign):
		return fmt.Errorf("%w (set SLUICE_DB to a new file, or SLUICE_SHARED_DB=true to keep the queue inside this database)", err)
	case errors.Is(err, sqlitewal.ErrNetworkFS):
		return fmt.Errorf("%w (SLUICE_ALLOW_NETWORK_FS=true accepts it)", err)
	}
	return err
}

// newLogger builds the one logger: tint for a person at a terminal, JSON for
// machines; under systemd each record carries its journal priority.
func newLogger(cfg config.Config, w io.Writer, environ []string) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(cfg.LogLevel)) // validated by config
	terminal := isTerminal(w)
	format := cfg.LogFormat
	if format == "auto" {
		format = "json"
		if terminal {
			format = "text"
		}
	}
	if format == "json" {
		return slog.New(forJournal(w, environ, func(w io.Writer) slog.Handler {
			return slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: durationsAsText})
		}))
	}
	noColor := !terminal || lookup(environ, "NO_COLOR") != ""
	return slog.New(forJournal(w, environ, func(w io.Writer) slog.Handler {
		return tint.NewTextHandler(w, &tint.Options{Level: level, NoColor: noColor, TimeFormat: time.TimeOnly})
	}))
}

// durationsAsText writes durations as "1.5s" rather than nanoseconds.
func durationsAsText(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.String(a.Key, a.Value.Duration().String())
	}
	return a
}

func isTerminal(w io.Writer) bool {
	if t, ok := w.(interface{ isTerminal() bool }); ok { // the drain's live progress line
		return t.isTerminal()
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func lookup(environ []string, key string) string {
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}
