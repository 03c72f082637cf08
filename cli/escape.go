package cli

import (
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// printable returns s with every character that could act on a terminal
// written as a Go escape: C0 and C1 controls (ESC starts the sequences that
// retitle, recolour or clear a terminal; \r and \b overwrite what was
// printed), DEL, the bidirectional overrides that reorder what a line
// shows, and bytes that are not UTF-8. Queue names, errors and payloads come
// from producers, so every human printer sends them through here. With
// keepLines, newlines and tabs pass (the printers' own layout uses them).
func printable(s string, keepLines bool) string {
	clean := true
	for _, r := range s {
		if unsafeRune(r, keepLines) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case !unsafeRune(r, keepLines):
			b.WriteString(s[i : i+size])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x100:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
		i += size
	}
	return b.String()
}

func unsafeRune(r rune, keepLines bool) bool {
	switch {
	case keepLines && (r == '\n' || r == '\t'):
		return false
	case r == utf8.RuneError:
		return true // invalid UTF-8, or U+FFFD itself: escaped only when invalid
	}
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r)
}

// printer wraps the writer of a human printer so that everything it writes
// goes through printable, whichever field it came from.
func printer(w io.Writer) io.Writer { return escapeWriter{w} }

type escapeWriter struct{ w io.Writer }

func (e escapeWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(e.w, printable(string(p), true)); err != nil {
		return 0, err
	}
	return len(p), nil
}
