package cli

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"text/tabwriter"
)

const configUsage = `
Usage: sluice config

Prints every setting with its effective value, where it came from, and the
jobs this binary can run. Exits 78 listing every problem if the environment
is invalid.
`

func runConfig(_ context.Context, m *Main, args []string) error {
	fs := newFlagSet(m, "config", configUsage)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	e, err := m.env()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
	for _, v := range e.cfg.Vars() {
		origin := "default"
		if lookup(m.Environ, v.Name) != "" {
			origin = "set"
		}
		fmt.Fprintf(tw, "%s=%s\t# %s: %s\n", v.Name, v.Value, origin, v.Help)
	}
	tw.Flush()
	fmt.Fprintf(m.Stdout, "\njobs: %s\n", strings.Join(e.jobs.Names(), ", "))
	return nil
}

const versionUsage = `
Usage: sluice version

Prints the version, the commit it was built from and the Go version.
`

// Version is set at build time with -ldflags "-X github.com/sluicehq/sluice/cli.Version=v1.2.3".
var Version = "dev"

func runVersion(_ context.Context, m *Main, args []string) error {
	fs := newFlagSet(m, "version", versionUsage)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	rev, dirty := "unknown", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && len(s.Value) >= 12:
				rev = s.Value[:12]
			case s.Key == "vcs.modified" && s.Value == "true":
				dirty = "-dirty"
			}
		}
	}
	fmt.Fprintf(m.Stdout, "sluice %s (%s%s, %s)\n", Version, rev, dirty, runtime.Version())
	return nil
}

func runHelp(_ context.Context, m *Main, args []string) error {
	if len(args) == 0 {
		printUsage(m.Stdout)
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] && c.name != "help" {
			if err := c.run(context.Background(), m, []string{"-h"}); !errors.Is(err, errHelp) {
				return err
			}
			return nil
		}
	}
	return usagef("help: unknown command %q", args[0])
}
