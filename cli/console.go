package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/worker"
)

// Console writes the few lines sluice prints outside its logger: the notices
// of a stop signal and the error that ends the program. In JSON log mode
// (SLUICE_LOG_FORMAT=json, or auto when stderr is not a terminal) they are
// JSON log records like every other line on stderr, so a log pipeline
// parses them all. On a terminal a notice first clears the line, where
// drain's progress line may stand, so it starts at the left margin.
type Console struct {
	w        io.Writer
	terminal bool
	log      *slog.Logger // nil: plain text
}

// NewConsole returns the console for stderr w under environ.
func NewConsole(w io.Writer, environ []string) *Console {
	c := &Console{w: w, terminal: isTerminal(w)}
	format := lookup(environ, "SLUICE_LOG_FORMAT")
	if format == "json" || (format == "" || format == "auto") && !c.terminal {
		c.log = slog.New(forJournal(w, environ, func(w io.Writer) slog.Handler {
			return slog.NewJSONHandler(w, &slog.HandlerOptions{ReplaceAttr: durationsAsText})
		}))
	}
	return c
}

// Notice writes a warning such as "SIGTERM: stopping gracefully".
func (c *Console) Notice(msg string) {
	switch {
	case c.log != nil:
		c.log.Warn(msg)
	case c.terminal:
		fmt.Fprintf(c.w, "%ssluice: %s\n", clearLine, msg)
	default:
		fmt.Fprintf(c.w, "sluice: %s\n", msg)
	}
}

// Error writes the error that ends the program: PrintError's text, or one
// JSON record with the problems of a configuration error and the help hint
// of a usage error as fields.
func (c *Console) Error(err error) {
	if c.log == nil {
		if c.terminal {
			io.WriteString(c.w, clearLine)
		}
		PrintError(c.w, err)
		return
	}
	var ce *config.Error
	var ue *UsageError
	switch {
	case errors.As(err, &ce):
		c.log.Error("invalid configuration", "problems", ce.Problems, "exit_code", ExitCode(err))
	case errors.As(err, &ue):
		hint := "sluice help"
		if ue.Cmd != "" {
			hint = "sluice " + ue.Cmd + " -h"
		}
		c.log.Error(err.Error(), "help", hint, "exit_code", ExitCode(err))
	default:
		c.log.Error(err.Error(), "exit_code", ExitCode(err))
	}
}

// printSummary writes what a drain or run did: a line on stdout and, in
// JSON log mode, the same counts as a log record, so log pipelines get them.
func printSummary(m *Main, log *slog.Logger, verb string, s worker.Summary) {
	w := m.Stdout
	fmt.Fprintf(w, "%s: %d ran, %d succeeded, %d failed, %d retried later", verb, s.Ran, s.Succeeded, s.Failed, s.Retried)
	if s.Released > 0 {
		fmt.Fprintf(w, ", %d released", s.Released)
	}
	if s.Recovered > 0 {
		fmt.Fprintf(w, ", %d recovered from dead workers", s.Recovered)
	}
	if s.Stale > 0 {
		fmt.Fprintf(w, ", %d stale outcomes dropped", s.Stale)
	}
	if s.Pruned > 0 {
		fmt.Fprintf(w, ", %d old finished %s removed", s.Pruned, plural(s.Pruned, "task", "tasks"))
	}
	fmt.Fprintf(w, " in %s", s.Elapsed.Round(time.Millisecond))
	if s.Ran > 0 {
		fmt.Fprintf(w, " (%.0f tasks/s)", s.Rate())
	}
	fmt.Fprintln(w)
	if _, isJSON := log.Handler().(*slog.JSONHandler); isJSON {
		log.Info(verb, "ran", s.Ran, "succeeded", s.Succeeded, "failed", s.Failed, "retried", s.Retried,
			"released", s.Released, "recovered", s.Recovered, "stale", s.Stale, "pruned", s.Pruned,
			"elapsed", s.Elapsed, "rate", s.Rate())
	}
}
