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
	"github.com/sluicehq/sluice/supervisor"
)

func main() {
	os.Exit(runMain(jobs.NewRegistry()))
}

// runMain runs the program with the given jobs and returns the exit code.
// The tests re-execute their own binary through it with extra test jobs.
func runMain(reg *jobs.Registry) int {
	if os.Getpid() == 1 && supervisor.Supported {
		// PID 1 of a container must reap orphans; a worker that does would
		// steal exit statuses from its own exec.Cmds. So PID 1 becomes a
		// tiny init that runs this same command as its child.
		return supervisor.Init(os.Args, os.Environ(), os.Stderr)
	}
	if len(os.Args) > 1 && os.Args[1] == supervisor.Command {
		// Before signalContext: the supervisor handles signals itself.
		return supervisor.Main(os.Args[2:], os.Stderr)
	}
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
