package cli

import (
	"bytes"
	"log/slog"
	"testing"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/worker"
)

func TestProgressLine(t *testing.T) {
	tests := []struct {
		p    worker.Progress
		want string
	}{
		{worker.Progress{Done: 1200, Succeeded: 1190, Failed: 4, Retried: 6, Remaining: 5678, Rate: 812.4, ETA: 7*time.Second + 300*time.Millisecond},
			"drain: 1200 done (1190 ok, 4 failed, 6 retry), 5678 left, 812/s, ETA 7s"},
		{worker.Progress{Remaining: -1}, "drain: 0 done (0 ok, 0 failed, 0 retry), 0/s"},
	}
	for _, tt := range tests {
		if got := progressLine(tt.p); got != tt.want {
			t.Errorf("progressLine(%+v) = %q; want %q", tt.p, got, tt.want)
		}
	}
}

// TestLiveLineKeepsLogsReadable checks that a log record clears the live
// line, prints on its own line, and that the live line comes back after it.
func TestLiveLineKeepsLogsReadable(t *testing.T) {
	var term bytes.Buffer
	live := &liveLine{w: &term}
	cfg := config.Config{LogLevel: "info", LogFormat: "auto"}
	log := newLogger(cfg, live, []string{"NO_COLOR=1"})
	if _, ok := log.Handler().(*slog.JSONHandler); ok {
		t.Fatal("logger through the live line writes JSON; want text, as on a terminal")
	}
	live.Set("draining: 1 done")
	log.Info("hello")
	live.Set("draining: 2 done")
	live.Clear()
	got := term.String()
	want := clearLine + "draining: 1 done" + clearLine
	if !bytes.HasPrefix([]byte(got), []byte(want)) {
		t.Fatalf("terminal got %q; want it to start with %q", got, want)
	}
	rest := got[len(want):]
	if !bytes.Contains([]byte(rest), []byte("hello")) ||
		!bytes.HasSuffix([]byte(rest), []byte("\n"+"draining: 1 done"+clearLine+"draining: 2 done"+clearLine)) {
		t.Errorf("terminal got %q", got)
	}
}

// TestLiveLineNeverWraps: the live line is cut to one column less than the
// terminal, so it never wraps (a wrapped line leaves its first rows behind
// on every redraw).
func TestLiveLineNeverWraps(t *testing.T) {
	var term bytes.Buffer
	live := &liveLine{w: &term, width: 30}
	live.Set(progressLine(worker.Progress{Done: 1200, Succeeded: 1190, Failed: 4, Retried: 6, Remaining: 5678, Rate: 812.4}))
	want := clearLine + "drain: 1200 done (1190 ok, 4…"
	if got := term.String(); got != want {
		t.Errorf("terminal got %q; want %q", got, want)
	}
}
