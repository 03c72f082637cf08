// Sluice is a small, fast background-task worker that drains a task queue
// kept in a SQLite file. See README.md.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/sluicehq/sluice/cli"
	"github.com/sluicehq/sluice/jobs"
)

func main() {
	os.Exit(runMain(jobs.NewRegistry()))
}

// runMain runs the program with the given jobs and returns the exit code.
// The tests re-execute their own binary through it with extra test jobs.
func runMain(reg *jobs.Registry) int {
	console := cli.NewConsole(os.Stderr, os.Environ())
	ctx := signalContext(console)
	err := run(ctx, reg, os.Args[1:], os.Environ(), os.Stdin, os.Stdout, os.Stderr)
	if err != nil {
		console.Error(err)
	}
	return cli.ExitCode(err)
}

// signalContext returns a context cancelled by the first SIGTERM or SIGINT,
// which asks for a graceful stop; a second signal exits at once.
func signalContext(console *cli.Console) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		sig := <-signals
		console.Notice(fmt.Sprintf("%s: stopping gracefully (send it again to exit at once)", sig))
		cancel()
		sig = <-signals
		console.Notice(fmt.Sprintf("%s again: exiting at once; leases will bring back running tasks", sig))
		os.Exit(cli.ExitFailure)
	}()
	return ctx
}

// run is the whole program, callable in-process by tests.
func run(ctx context.Context, reg *jobs.Registry, args, environ []string, stdin io.Reader, stdout, stderr io.Writer) error {
	m := &cli.Main{Jobs: reg, Environ: environ, Stdin: stdin, Stdout: stdout, Stderr: stderr}
	return m.Run(ctx, args)
}
