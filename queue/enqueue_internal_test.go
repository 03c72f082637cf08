package queue

import "testing"

// TestBadEscape: the escapes PostgreSQL cannot read back as text are found,
// and nothing else (an escaped backslash, a surrogate pair, other escapes).
func TestBadEscape(t *testing.T) {
	cases := []struct{ json, want string }{
		{`{"s":"x\u0000y"}`, `\u0000`},
		{`{"\u0000":1}`, `\u0000`},
		{`["\\\u0000"]`, `\u0000`},
		{`["\ud800"]`, `\ud800`},
		{`["\ud800x"]`, `\ud800`},
		{`["\ud800\u0041"]`, `\ud800`},
		{`["\uDC00"]`, `\uDC00`},
		{`["\ud83d\ude00\udc00"]`, `\udc00`},
		{`{"s":"x\\u0000y"}`, ""},
		{`["\\\\u0000"]`, ""},
		{`["\ud83d\ude00", "\uD83D\uDE00"]`, ""},
		{`["\u0001\n\"\u00e9"]`, ""},
		{`{}`, ""},
	}
	for _, c := range cases {
		if got := badEscape([]byte(c.json)); got != c.want {
			t.Errorf("badEscape(%s) = %q; want %q", c.json, got, c.want)
		}
	}
}
