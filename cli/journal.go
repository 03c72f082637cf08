package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"syscall"
)

// Under systemd, standard error goes to the journal, which reads a line's
// priority from an sd-daemon prefix such as "<4>" (SyslogLevelPrefix=yes is
// the default). Without one every record lands at the default priority and
// `journalctl -p warning` shows nothing. systemd names the stream it
// connected in JOURNAL_STREAM ("device:inode"); a logger writing there
// prefixes each record with its level's priority.

// journalHandler writes each record of h with its priority in front.
type journalHandler struct {
	h slog.Handler
	w *priorityWriter // shared by every handler derived from the first
}

// priorityWriter puts prefix before each write; journalHandler sets it for
// the one record it writes while holding mu (a handler writes a record in
// one Write).
type priorityWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
}

func (p *priorityWriter) Write(b []byte) (int, error) {
	if _, err := p.w.Write(append([]byte(p.prefix), b...)); err != nil {
		return 0, err
	}
	return len(b), nil
}

// journalPriority maps a level to its sd-daemon priority: err, warning,
// info or debug.
func journalPriority(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "<3>"
	case l >= slog.LevelWarn:
		return "<4>"
	case l >= slog.LevelInfo:
		return "<6>"
	}
	return "<7>"
}

func (j *journalHandler) Enabled(ctx context.Context, l slog.Level) bool { return j.h.Enabled(ctx, l) }

func (j *journalHandler) Handle(ctx context.Context, r slog.Record) error {
	j.w.mu.Lock()
	defer j.w.mu.Unlock()
	j.w.prefix = journalPriority(r.Level)
	return j.h.Handle(ctx, r)
}

func (j *journalHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &journalHandler{h: j.h.WithAttrs(as), w: j.w}
}

func (j *journalHandler) WithGroup(name string) slog.Handler {
	return &journalHandler{h: j.h.WithGroup(name), w: j.w}
}

// forJournal returns the handler newHandler builds on w, with journal
// priorities when w is the stream JOURNAL_STREAM names.
func forJournal(w io.Writer, environ []string, newHandler func(io.Writer) slog.Handler) slog.Handler {
	if !isJournal(w, environ) {
		return newHandler(w)
	}
	pw := &priorityWriter{w: w}
	return &journalHandler{h: newHandler(pw), w: pw}
}

// isJournal reports whether w is the journal stream systemd connected,
// comparing its device and inode with JOURNAL_STREAM.
func isJournal(w io.Writer, environ []string) bool {
	stream := lookup(environ, "JOURNAL_STREAM")
	f, ok := w.(*os.File)
	if stream == "" || !ok {
		return false
	}
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && stream == fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}
