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
)

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		sig := <-signals
		fmt.Fprintf(os.Stderr, "sluice: %s: stopping gracefully (send it again to exit at once)\n", sig)
		cancel()
		sig = <-signals
		fmt.Fprintf(os.Stderr, "sluice: %s again: exiting at once; leases will bring back running tasks\n", sig)
		os.Exit(cli.ExitFailure)
	}()
	err := run(ctx, os.Args[1:], os.Environ(), os.Stdin, os.Stdout, os.Stderr)
	if err != nil {
		cli.PrintError(os.Stderr, err)
	}
	os.Exit(cli.ExitCode(err))
}

// run is the whole program, callable in-process by tests.
func run(ctx context.Context, args, environ []string, stdin io.Reader, stdout, stderr io.Writer) error {
	m := &cli.Main{Environ: environ, Stdin: stdin, Stdout: stdout, Stderr: stderr}
	return m.Run(ctx, args)
}
