package cli

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func FuzzPrintable(f *testing.F) {
	for _, s := range []string{"plain", "\x1b]0;title\x07", "a\r\nb\tc", "\u202eevil", "\xff\xfe", "é\u009b31m", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, keepLines := range []bool{false, true} {
			got := printable(s, keepLines)
			if !utf8.ValidString(got) {
				t.Fatalf("printable(%q, %v) = %q: not UTF-8", s, keepLines, got)
			}
			for _, r := range got {
				if (unicode.IsControl(r) && !(keepLines && (r == '\n' || r == '\t'))) || unicode.Is(unicode.Bidi_Control, r) {
					t.Fatalf("printable(%q, %v) = %q: holds %U", s, keepLines, got, r)
				}
			}
			if !strings.ContainsFunc(s, func(r rune) bool { return unsafeRune(r, keepLines) }) && got != s {
				t.Fatalf("printable(%q, %v) = %q: changed a clean string", s, keepLines, got)
			}
		}
	})
}
