package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// flagSet is a command's flags with its usage text. It is the standard
// flag package with two habits added: flags go anywhere on the line (git,
// kubectl and gh take `sluice show 42 -json`), and a bad flag prints only
// the command's synopsis and its help hint rather than the whole help.
// Twenty lines over flag cost less than a library and keep -h the same.
type flagSet struct {
	*flag.FlagSet
	usage string
	out   io.Writer // where -h prints the help
}

// newFlagSet returns a flagSet whose -h prints the usage to stdout, whose
// Flags section lists its flags (and is left out when there are none), and
// whose errors come back as UsageErrors instead of exiting.
func newFlagSet(m *Main, name, usage string) *flagSet {
	fs := &flagSet{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError), usage: usage, out: m.Stdout}
	fs.SetOutput(io.Discard)
	fs.FlagSet.Usage = func() {} // parseFlags prints the help for -h, and only the synopsis for an error
	if m.onFlagSet != nil {
		m.onFlagSet(fs.FlagSet)
	}
	return fs
}

// printHelp writes the usage text and the flags.
func (fs *flagSet) printHelp() {
	fmt.Fprint(fs.out, strings.TrimLeft(fs.usage, "\n"))
	if hasFlags(fs.FlagSet) {
		fs.SetOutput(fs.out)
		fmt.Fprintln(fs.out, "\nFlags:")
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// parseFlags parses args with flags anywhere among the arguments; "--" ends
// the flags, so an argument may start with "-". -h prints the usage and
// returns errHelp. Afterwards fs.Args() holds the arguments, in order.
func parseFlags(fs *flagSet, args []string) error {
	var pos []string
	for {
		err := fs.Parse(args)
		switch {
		case errors.Is(err, flag.ErrHelp):
			fs.printHelp()
			return errHelp
		case err != nil:
			return &UsageError{Msg: fmt.Sprintf("%s: %v", fs.Name(), err), Cmd: fs.Name(), Synopsis: synopsis(fs.usage)}
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" && !takesValue(fs.FlagSet, args[:n-1]) {
			pos = append(pos, rest...) // Parse stopped at "--": the rest are arguments
			break
		}
		if len(rest) == 0 {
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	// Parse again with only the arguments, after "--", so that fs.Args()
	// returns them; the flags already set keep their values.
	return fs.Parse(append([]string{"--"}, pos...))
}

// takesValue reports whether the last of args is a flag that takes the next
// argument as its value, as in `-queue --`.
func takesValue(fs *flag.FlagSet, args []string) bool {
	if len(args) == 0 {
		return false
	}
	name := strings.TrimLeft(args[len(args)-1], "-")
	if name == args[len(args)-1] || strings.Contains(name, "=") {
		return false
	}
	f := fs.Lookup(name)
	if f == nil {
		return false
	}
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return !ok || !b.IsBoolFlag()
}

// synopsis returns the Usage lines at the top of a usage text.
func synopsis(usage string) string {
	head, _, _ := strings.Cut(strings.TrimLeft(usage, "\n"), "\n\n")
	return head
}

// isSet reports whether the flag called name was given on the command line.
func isSet(fs *flagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// errHelp ends a command that printed its help; Run turns it into success.
var errHelp = errors.New("help shown")

// durationValue is a duration flag whose error says what is wrong with the
// value: the standard one says only "parse error", even for `-timeout 5`.
type durationValue struct{ d *time.Duration }

func durationVar(fs *flagSet, p *time.Duration, name string, value time.Duration, usage string) {
	*p = value
	fs.Var(durationValue{p}, name, usage)
}

func (v durationValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err == nil {
		*v.d = d
		return nil
	}
	if _, nerr := strconv.ParseFloat(s, 64); nerr == nil {
		return fmt.Errorf("missing unit: write %[1]ss, %[1]sm or %[1]sh", s)
	}
	return errors.New("want a duration such as 30s, 5m or 1h30m")
}

func (v durationValue) String() string {
	if v.d == nil {
		return "0s"
	}
	return v.d.String()
}

// positive checks a flag that must be more than zero when given, such as
// -max-attempts: leaving it out means the default, but 0 does not.
func positive[T int | time.Duration](fs *flagSet, name string, v T, instead string) error {
	if isSet(fs, name) && v <= 0 {
		return usagef("%s: -%s %v: must be more than 0 (leave it out for %s)", fs.Name(), name, v, instead)
	}
	return nil
}
