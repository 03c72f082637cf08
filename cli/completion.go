package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/schedule"
)

const completionUsage = `
Usage: sluice completion bash|zsh|fish

Prints a script that completes sluice's commands, subcommands, flags and
flag values (states, catch-up policies) in that shell. The script asks
sluice itself (the hidden '__complete' command), so it stays right as
sluice changes.

Examples:
  source <(sluice completion bash)          # in ~/.bashrc
  source <(sluice completion zsh)           # in ~/.zshrc, after compinit
  sluice completion fish > ~/.config/fish/completions/sluice.fish
`

// completeCommand is the hidden command the completion scripts call with
// the words typed so far (the last one being completed); it prints one
// candidate a line.
const completeCommand = "__complete"

var completionScripts = map[string]string{
	"bash": `# bash completion for sluice
_sluice() {
    local IFS=$'\n'
    COMPREPLY=($(sluice __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null))
}
complete -o default -F _sluice sluice
`,
	"zsh": `#compdef sluice
# zsh completion for sluice
_sluice() {
    local -a candidates
    candidates=(${(f)"$(sluice __complete "${(@)words[2,CURRENT]}" 2>/dev/null)"})
    compadd -a candidates
}
compdef _sluice sluice
`,
	"fish": `# fish completion for sluice
function __sluice_complete
    set -l words (commandline -opc) (commandline -ct)
    sluice __complete $words[2..-1] 2>/dev/null
end
complete -c sluice -f -a '(__sluice_complete)'
`,
}

func runCompletion(_ context.Context, m *Main, args []string) error {
	fs := newFlagSet(m, "completion", completionUsage)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("completion: want one shell: bash, zsh or fish")
	}
	script, ok := completionScripts[fs.Arg(0)]
	if !ok {
		return usagef("completion: unknown shell %q (want bash, zsh or fish)", fs.Arg(0))
	}
	fmt.Fprint(m.Stdout, script)
	return nil
}

// scheduleSubcommands are the words after 'sluice schedule'.
var scheduleSubcommands = []string{"add", "list", "show", "rm", "pause", "resume"}

// runComplete prints the candidates for the last of words.
func runComplete(m *Main, words []string) error {
	if len(words) == 0 {
		words = []string{""}
	}
	cur := words[len(words)-1]
	var cands []string
	switch {
	case len(words) == 1:
		for _, c := range commands() {
			cands = append(cands, c.name)
		}
		cands = append(cands, "--help", "--version")
	case words[0] == "help" && len(words) == 2:
		for _, c := range commands() {
			cands = append(cands, c.name)
		}
	case words[0] == "help" && words[1] == "schedule" && len(words) == 3,
		words[0] == "schedule" && len(words) == 2:
		cands = scheduleSubcommands
	case words[0] == "completion" && len(words) == 2:
		cands = []string{"bash", "zsh", "fish"}
	default:
		cands = completeFlags(m, words)
	}
	for _, c := range cands {
		if strings.HasPrefix(c, cur) {
			fmt.Fprintln(m.Stdout, c)
		}
	}
	return nil
}

// completeFlags offers a command's flags when the word starts with "-",
// and the values of the flags that take a few known ones.
func completeFlags(m *Main, words []string) []string {
	cur, prev := words[len(words)-1], words[len(words)-2]
	switch strings.TrimLeft(prev, "-") {
	case "state":
		var names []string
		for _, st := range queue.States {
			names = append(names, string(st))
		}
		return names
	case "catch-up":
		return []string{string(schedule.CatchUpOne), string(schedule.CatchUpAll), string(schedule.CatchUpNone)}
	}
	if !strings.HasPrefix(cur, "-") {
		return nil
	}
	args := []string{words[0], "-h"}
	if words[0] == "schedule" {
		args = []string{words[0], words[1], "-h"}
	}
	var sets []*flag.FlagSet
	probe := &Main{Stdout: io.Discard, Stderr: io.Discard, onFlagSet: func(fs *flag.FlagSet) { sets = append(sets, fs) }}
	if err := probe.Run(context.Background(), args); err != nil && !errors.Is(err, errHelp) {
		return nil
	}
	var names []string
	for _, fs := range sets {
		fs.VisitAll(func(f *flag.Flag) { names = append(names, "-"+f.Name) })
	}
	slices.Sort(names)
	return names
}
