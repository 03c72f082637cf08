package cli

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"text/tabwriter"
)

const configUsage = `
Usage: sluice config [-json]

Prints every setting with its effective value, where it came from, and the
jobs this binary can run. Exits 78 listing every problem if the environment
is invalid.

Examples:
  sluice config
  sluice config -json | jq -r '.settings[] | select(.origin == "set") | .name'
`

// configJSON is sluice config -json.
type configJSON struct {
	Settings []settingJSON `json:"settings"`
	Jobs     []string      `json:"jobs"`
}

type settingJSON struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Origin string `json:"origin"` // set or default
	Help   string `json:"help"`
}

func runConfig(_ context.Context, m *Main, args []string) error {
	fs := newFlagSet(m, "config", configUsage)
	asJSON := fs.Bool("json", false, "print JSON instead of text")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("config takes no arguments, got %q", fs.Args())
	}
	e, err := m.env()
	if err != nil {
		return err
	}
	v := configJSON{Settings: []settingJSON{}, Jobs: e.jobs.Names()}
	for _, cv := range e.cfg.Vars() {
		origin := "default"
		if lookup(m.Environ, cv.Name) != "" {
			origin = "set"
		}
		v.Settings = append(v.Settings, settingJSON{Name: cv.Name, Value: cv.Value, Origin: origin, Help: cv.Help})
	}
	if *asJSON {
		return writeJSON(m.Stdout, v)
	}
	tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
	for _, s := range v.Settings {
		fmt.Fprintf(tw, "%s=%s\t# %s: %s\n", s.Name, s.Value, s.Origin, s.Help)
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
			// `help schedule add` is `schedule add -h`.
			sub := append(slices.Clone(args[1:]), "-h")
			if err := c.run(context.Background(), m, sub); !errors.Is(err, errHelp) {
				return err
			}
			return nil
		}
	}
	return usagef("help: unknown command %q", args[0])
}
