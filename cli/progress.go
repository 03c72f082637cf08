package cli

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/sluicehq/sluice/worker"
)

// liveEvery is how often the live progress line is redrawn on a terminal.
const liveEvery = 250 * time.Millisecond

// liveLine keeps one status line at the bottom of a terminal. Log records
// written through it clear the line, print, and draw it again, so logs and
// progress never garble each other.
type liveLine struct {
	mu    sync.Mutex
	w     io.Writer
	width int // the terminal's columns: a line as wide would wrap, and clearLine erases only its last row
	line  string
}

// clearLine returns to the start of the line and erases it.
const clearLine = "\r\x1b[K"

// Write prints a log record above the live line.
func (l *liveLine) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.line != "" {
		io.WriteString(l.w, clearLine)
	}
	n, err := l.w.Write(p)
	if l.line != "" {
		io.WriteString(l.w, l.line)
	}
	return n, err
}

// Set replaces the live line.
func (l *liveLine) Set(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.width > 0 {
		s = clip(s, l.width-1) // never wrap
	}
	l.line = s
	io.WriteString(l.w, clearLine+s)
}

// Clear erases the live line for good, before the summary.
func (l *liveLine) Clear() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.line != "" {
		io.WriteString(l.w, clearLine)
	}
	l.line = ""
}

// isTerminal tells newLogger that records go to a terminal.
func (l *liveLine) isTerminal() bool { return true }

// progressLine writes a progress report in one line; liveLine.Set cuts it
// to the terminal's width.
func progressLine(p worker.Progress) string {
	s := fmt.Sprintf("drain: %d done (%d ok, %d failed, %d retry)", p.Done, p.Succeeded, p.Failed, p.Retried)
	if p.Remaining >= 0 {
		s += fmt.Sprintf(", %d left", p.Remaining)
	}
	s += fmt.Sprintf(", %.0f/s", p.Rate)
	if p.ETA > 0 {
		s += ", ETA " + p.ETA.Round(time.Second).String()
	}
	return s
}
