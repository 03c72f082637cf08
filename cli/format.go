package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sluicehq/sluice/queue"
	"golang.org/x/term"
)

// Helpers shared by the commands that print tasks: status, tasks, show, groups.

// width returns the columns tables are laid out for on w: m.Width when set,
// the terminal's width when w is one, else 0 (no limit: a pipe gets it all).
func (m *Main) width(w io.Writer) int {
	if m.Width > 0 {
		return m.Width
	}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 0 {
			return cols
		}
	}
	return 0
}

// ago writes t relative to now, compactly: "5m ago", "in 2h", "now".
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d > -time.Second && d < time.Second:
		return "now"
	case d < 0:
		return "in " + compact(-d)
	}
	return compact(d) + " ago"
}

// compact writes a duration in its largest unit: 42s, 5m, 3h, 2d.
func compact(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	}
	return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
}

// took writes an attempt's duration: 850ms, 1.2s, 42s, 10m; "-" when none.
func took(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < 10*time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d < time.Minute:
		return d.Round(time.Second).String()
	}
	return compact(d)
}

// stamp writes an absolute time in UTC, to the second.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// firstLine returns the first line of s.
func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return printable(strings.TrimSpace(line), false)
}

// clip shortens s to at most n characters, marking the cut with "…".
func clip(s string, n int) string {
	if n <= 0 {
		return ""
	}
	s = printable(s, false)
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// when is the time a listing shows for a task: when it is due (queued),
// started (running) or finished.
func when(t queue.Task, now time.Time) string {
	switch t.State {
	case queue.Queued:
		return ago(t.RunAt, now)
	case queue.Running:
		return ago(t.StartedAt, now)
	}
	return ago(t.FinishedAt, now)
}

// tries writes attempt/max, with the worker default for tasks without their own.
func tries(t queue.Task, defaultMax int) string {
	m := t.MaxAttempts
	if m == 0 {
		m = defaultMax
	}
	return fmt.Sprintf("%d/%d", t.Attempt, m)
}

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// rawOrString keeps valid JSON as it is and writes anything else as a string.
func rawOrString(b []byte) any {
	if b == nil {
		return nil
	}
	if json.Valid(b) {
		return json.RawMessage(b)
	}
	return string(b)
}

// taskJSON is a task as -json prints it. Times are RFC 3339 in UTC and
// omitted when unset; durations are milliseconds.
type taskJSON struct {
	ID          int64         `json:"id"`
	Job         string        `json:"job"`
	Queue       string        `json:"queue"`
	Group       string        `json:"group,omitempty"`
	UniqueKey   string        `json:"unique_key,omitempty"`
	State       queue.State   `json:"state"`
	Priority    int           `json:"priority"`
	Attempt     int           `json:"attempt"`
	MaxAttempts int           `json:"max_attempts"` // the worker default when the task has none
	TimeoutMS   int64         `json:"timeout_ms,omitempty"`
	RunAt       *time.Time    `json:"run_at,omitempty"`
	CreatedAt   *time.Time    `json:"created_at,omitempty"`
	StartedAt   *time.Time    `json:"started_at,omitempty"`
	FinishedAt  *time.Time    `json:"finished_at,omitempty"`
	LeaseUntil  *time.Time    `json:"lease_until,omitempty"`
	Worker      string        `json:"worker,omitempty"`
	DurationMS  int64         `json:"duration_ms"`
	Error       string        `json:"error,omitempty"`
	Invalid     string        `json:"invalid,omitempty"` // what is wrong with the stored row (show only)
	Payload     any           `json:"payload,omitempty"`
	Result      any           `json:"result,omitempty"`
	History     []attemptJSON `json:"history,omitempty"`
}

type attemptJSON struct {
	Attempt    int        `json:"attempt"`
	Outcome    string     `json:"outcome"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	DurationMS int64      `json:"duration_ms"`
	Error      string     `json:"error,omitempty"`
	Leftover   *int       `json:"leftover,omitempty"` // supervised attempts only
	PeakRSS    int64      `json:"peak_rss,omitempty"` // bytes; supervised attempts only
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func toJSON(t queue.Task, defaultMax int) taskJSON {
	v := taskJSON{
		ID: t.ID, Job: t.Job, Queue: t.Queue, Group: t.Group, UniqueKey: t.UniqueKey, State: t.State,
		Priority: t.Priority, Attempt: t.Attempt, MaxAttempts: t.MaxAttempts, TimeoutMS: t.Timeout.Milliseconds(),
		RunAt: timePtr(t.RunAt), CreatedAt: timePtr(t.CreatedAt), StartedAt: timePtr(t.StartedAt),
		FinishedAt: timePtr(t.FinishedAt), LeaseUntil: timePtr(t.LeaseUntil), Worker: t.Worker,
		DurationMS: t.Duration.Milliseconds(), Error: t.Error, Invalid: t.Invalid,
		Payload: rawOrString(t.Payload), Result: rawOrString(t.Result),
	}
	if v.MaxAttempts == 0 {
		v.MaxAttempts = defaultMax
	}
	for _, a := range t.History {
		v.History = append(v.History, attemptJSON{Attempt: a.Attempt, Outcome: a.Outcome,
			StartedAt: timePtr(a.StartedAt), DurationMS: a.DurationMS, Error: a.Error,
			Leftover: a.Leftover, PeakRSS: a.PeakRSS})
	}
	return v
}

// countsJSON writes per-state counts in life order for -json.
func countsJSON(c map[queue.State]int) map[string]int {
	m := make(map[string]int, len(c))
	for _, st := range queue.States {
		m[string(st)] = c[st]
	}
	return m
}

// stateNames lists states for an error message: "queued, running or failed".
func stateNames(states []queue.State) string {
	names := make([]string, len(states))
	for i, st := range states {
		names[i] = string(st)
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// table lays out rows (the first is the header) in columns two spaces
// apart: text left-aligned, the columns listed in right right-aligned.
// Cells are printed whole: a caller that fits a width clips them first
// (fitColumns).
func table(w io.Writer, rows [][]string, right []int) {
	if len(rows) == 0 {
		return
	}
	n := len(rows[0])
	widths := make([]int, n)
	for _, r := range rows {
		for i := range n {
			widths[i] = max(widths[i], utf8.RuneCountInString(r[i]))
		}
	}
	isRight := map[int]bool{}
	for _, c := range right {
		isRight[c] = true
	}
	for _, r := range rows {
		var b strings.Builder
		for i := range n {
			cell := r[i]
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(cell))
			if isRight[i] {
				b.WriteString(pad + cell)
			} else {
				b.WriteString(cell + pad)
			}
			if i < n-1 {
				b.WriteString("  ")
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

// fitColumns clips rows (the first is the header) so that table prints
// them within width columns. The last column, free text, gets what the
// others leave; the column shrink (a name) gives up characters, down to
// shrinkMin, so that the last keeps lastMin. When even that does not fit,
// the last column is left out and shrink gets what is left. Width 0 means
// no limit: nothing is clipped. Headers are never clipped.
func fitColumns(rows [][]string, width, shrink, shrinkMin, lastMin int) [][]string {
	if width <= 0 || len(rows) == 0 {
		return rows
	}
	n := len(rows[0])
	widths := make([]int, n)
	for _, r := range rows {
		for i := range n {
			widths[i] = max(widths[i], utf8.RuneCountInString(r[i]))
		}
	}
	others := 0 // every column but shrink and the last, with the two spaces after it
	for i := range n - 1 {
		if i != shrink {
			others += widths[i] + 2
		}
	}
	floor := max(shrinkMin, utf8.RuneCountInString(rows[0][shrink]))
	shrinkW := widths[shrink]
	last := width - others - shrinkW - 2
	if last < lastMin {
		shrinkW = max(floor, shrinkW-(lastMin-last))
		last = width - others - shrinkW - 2
	}
	dropLast := last < lastMin
	if dropLast {
		shrinkW = max(utf8.RuneCountInString(rows[0][shrink]), min(widths[shrink], width-others))
	}
	out := make([][]string, len(rows))
	for j, r := range rows {
		row := slices.Clone(r)
		if j > 0 {
			row[shrink] = clip(row[shrink], shrinkW)
			row[n-1] = clip(row[n-1], last)
		}
		if dropLast {
			row = row[:n-1]
		}
		out[j] = row
	}
	return out
}
