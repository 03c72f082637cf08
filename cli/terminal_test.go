package cli_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sluicehq/sluice/queue"
)

// tmuxOrSkip returns the tmux program, skipping the test with one clear
// line where it is missing (and failing under CI=true, which must have it).
func tmuxOrSkip(t *testing.T) string {
	t.Helper()
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tmux is not installed; CI must install it (apt-get install tmux)")
		}
		t.Skip("tmux is not installed: the progress line in a 50-column terminal is not checked")
	}
	return tmux
}

// TestProgressLineInNarrowTerminal runs a drain in a 50-column
// pseudo-terminal: the live progress line must stay on one row (cut, never
// wrapped, which would leave fragments behind on every redraw), and the
// Ctrl-C notice must start at the left margin of its own line.
func TestProgressLineInNarrowTerminal(t *testing.T) {
	tmux := tmuxOrSkip(t)
	bin := sluiceBinary(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "q.db")
	ps := make([]queue.EnqueueParams, 2000)
	for i := range ps {
		ps[i] = queue.EnqueueParams{Job: "nap"}
	}
	s, err := queue.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.EnqueueMany(context.Background(), ps); err != nil {
		t.Fatal(err)
	}
	s.Close()

	sock := filepath.Join(dir, "tmux.sock")
	tm := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(tmux, append([]string{"-S", sock}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	// The shell survives Ctrl-C (a trap, not an ignore: sluice gets the
	// default), to print the drain's exit code.
	script := "trap true INT; env SLUICE_DB=" + db + ` SLUICE_WORKERS=2 SLUICE_EXEC_NAP='["sleep","0.05"]' ` + bin +
		" drain; echo EXIT=$?; sleep 60"
	cmd := exec.Command(tmux, "-S", sock, "new-session", "-d", "-x", "50", "-y", "20", "sh", "-c", script, ";", "set-option", "-g", "remain-on-exit", "on")
	cmd.Env = append(os.Environ(), "TERM=xterm")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command(tmux, "-S", sock, "kill-server").Run() })
	pane := func() []string { return strings.Split(strings.TrimRight(tm("capture-pane", "-p"), "\n"), "\n") }

	var lines []string
	waitFor(t, "a progress line with tasks done", func() bool {
		lines = pane()
		for _, l := range lines {
			if strings.HasPrefix(l, "drain: ") && !strings.HasPrefix(l, "drain: 0 done") {
				return true
			}
		}
		return false
	})
	// Log records above may wrap; the progress line must not: it is the
	// last line, the only one showing progress (a wrapped one leaves its
	// first rows behind at every redraw), and narrower than the pane.
	var nonEmpty []string
	progress := 0
	for _, l := range lines {
		if l != "" {
			nonEmpty = append(nonEmpty, l)
		}
		if strings.Contains(l, "drain: ") {
			progress++
		}
	}
	last := nonEmpty[len(nonEmpty)-1]
	if progress != 1 || !strings.HasPrefix(last, "drain: ") || utf8.RuneCountInString(last) > 49 {
		t.Errorf("want one progress line, the last, under 50 columns; pane:\n%s", strings.Join(lines, "\n"))
	}

	tm("send-keys", "C-c")
	deadline := time.Now().Add(60 * time.Second)
	for lines = pane(); !strings.Contains(strings.Join(lines, "\n"), "EXIT="); lines = pane() {
		if time.Now().After(deadline) {
			t.Fatalf("the drain did not exit after Ctrl-C:\n%s", strings.Join(lines, "\n"))
		}
		time.Sleep(20 * time.Millisecond) // polling interval of the test, not an assertion on time
	}
	text := strings.Join(lines, "\n")
	if !regexp.MustCompile(`(?m)^sluice: interrupt: stopping gracefully`).MatchString(text) {
		t.Errorf("the Ctrl-C notice does not start a line:\n%s", text)
	}
	if !strings.Contains(text, "EXIT=0") || !regexp.MustCompile(`(?m)^drained: \d+ ran`).MatchString(text) {
		t.Errorf("drain did not stop gracefully with its summary:\n%s", text)
	}
}

// TestBashCompletion sources the bash script and completes as bash would,
// with the real binary on PATH.
func TestBashCompletion(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash is not installed: the completion script is not run")
	}
	bin := sluiceBinary(t)
	script := `source <(sluice completion bash)
COMP_WORDS=(sluice schedule pa); COMP_CWORD=2; _sluice; echo "${COMPREPLY[@]}"
COMP_WORDS=(sluice tasks -state fa); COMP_CWORD=3; _sluice; echo "${COMPREPLY[@]}"`
	cmd := exec.Command(bash, "-c", script)
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(bin)+":"+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil || string(out) != "pause\nfailed\n" {
		t.Errorf("bash completion: %v\n%q; want %q", err, out, "pause\nfailed\n")
	}
}
