package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sluicehq/sluice/config"
)

// TestJournalPriorities: when standard error is the stream JOURNAL_STREAM
// names, every record starts with its sd-daemon priority; elsewhere none.
func TestJournalPriorities(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	st := fi.Sys().(*syscall.Stat_t)
	environ := []string{fmt.Sprintf("JOURNAL_STREAM=%d:%d", st.Dev, st.Ino)}

	log := newLogger(config.Config{LogLevel: "debug", LogFormat: "json"}, f, environ)
	log.With("job", "x").Error("boom")
	log.Warn("careful")
	log.Info("fine")
	log.Debug("detail")
	NewConsole(f, append(environ, "SLUICE_LOG_FORMAT=json")).Notice("SIGTERM: stopping gracefully")
	b, _ := os.ReadFile(f.Name())
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	want := []string{"<3>{", "<4>{", "<6>{", "<7>{", "<4>{"}
	if len(lines) != len(want) {
		t.Fatalf("%d lines; want %d:\n%s", len(lines), len(want), b)
	}
	for i, l := range lines {
		if !strings.HasPrefix(l, want[i]) {
			t.Errorf("line %d = %q; want it to start with %q", i+1, l, want[i])
		}
	}

	// Another file than the journal's: no prefixes.
	g, _ := os.Create(filepath.Join(t.TempDir(), "other"))
	defer g.Close()
	newLogger(config.Config{LogLevel: "info", LogFormat: "json"}, g, environ).Warn("careful")
	if b, _ := os.ReadFile(g.Name()); !strings.HasPrefix(string(b), "{") {
		t.Errorf("a file that is not the journal stream got %q", b)
	}
}
