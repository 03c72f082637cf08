package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/sluicehq/sluice/queue"
)

// pageNames are the pages, each a templates/<name>.html defining "content"
// inside the layout.
var pageNames = []string{"overview", "failures", "tasks", "task", "schedules", "message"}

// parsePages parses each page with the layout. The templates are embedded
// and fixed, so a parse error is a programmer's error.
func parsePages() map[string]*template.Template {
	pages := map[string]*template.Template{}
	for _, name := range pageNames {
		t := template.New("layout.html").Funcs(funcs)
		pages[name] = template.Must(t.ParseFS(templateFiles, "templates/layout.html", "templates/"+name+".html"))
	}
	return pages
}

// view is what the layout shows around a page's content.
type view struct {
	Title    string
	Nav      string // the menu entry to highlight
	ReadOnly bool   // no token set: the actions are off
	Flash    string
	Refresh  int // seconds between live refreshes; 0: none
	Now      time.Time
	Data     any
}

// render writes page with data, or a plain error when the template fails
// (a page's data does not match its template: a programmer's error).
func (s *server) render(w http.ResponseWriter, r *http.Request, status int, page string, v view) {
	v.ReadOnly = s.opts.Token == ""
	v.Now = s.opts.Now().UTC()
	if v.Refresh == 0 && status == http.StatusOK {
		v.Refresh = int(s.opts.Refresh / time.Second)
	}
	if v.Flash == "" {
		v.Flash = flashes[r.URL.Query().Get("done")]
		if n := r.URL.Query().Get("n"); v.Flash != "" && n != "" && isDigits(n) {
			v.Flash = strings.ReplaceAll(v.Flash, "N", n)
		}
	}
	var buf bytes.Buffer
	if err := s.pages[page].Execute(&buf, v); err != nil {
		s.opts.Log.Error("render page", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// flashes are the messages an action leaves for the page it returns to,
// named by a code in the URL so that a link cannot put words on the page.
var flashes = map[string]string{
	"retried":   "Queued again: N task(s).",
	"cancelled": "Cancelled.",
	"paused":    "Schedule paused.",
	"resumed":   "Schedule resumed.",
	"ran":       "Schedule run now: task N queued.",
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(s) > 0 && len(s) < 20
}

// fail logs err and answers with a page that does not show it: store
// errors can name paths and internals.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	s.opts.Log.Error("web page", "path", r.URL.Path, "err", err)
	s.render(w, r, http.StatusInternalServerError, "message", view{Title: "Error",
		Data: "The queue could not be read; the server's log says why."})
}

// refuse answers an action that was not allowed or not possible with a
// page saying why.
func (s *server) refuse(w http.ResponseWriter, r *http.Request, status int, msg string) {
	s.render(w, r, status, "message", view{Title: http.StatusText(status), Data: msg})
}

var funcs = template.FuncMap{
	"ts":        formatTime,
	"ago":       ago,
	"dur":       formatDuration,
	"firstLine": firstLine,
	"pretty":    prettyJSON,
	"inZone":    inZone,
	"bars":      bars,
	"bytes":     formatBytes,
	"count":     func(m map[queue.State]int, st string) int { return m[queue.State(st)] },
}

// formatTime shows t in UTC to the second; zero shows as a dash.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// ago says how long before now t was ("3m ago"), or how long until it ("in 5s").
func ago(now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := now.Sub(t)
	if d < 0 {
		return "in " + roughDuration(-d)
	}
	return roughDuration(d) + " ago"
}

func roughDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// formatDuration shows a task's duration: milliseconds under a second,
// else seconds with a decimal, else the duration's own form.
func formatDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "—"
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
	return d.Round(time.Second).String()
}

// firstLine is s up to its first line break, cut at 200 characters.
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	if r := []rune(line); len(r) > 200 {
		return string(r[:200]) + "…"
	}
	return line
}

// prettyJSON indents b when it is JSON; otherwise it returns it as is (a
// payload inserted through SQL may be anything).
func prettyJSON(b []byte) string {
	var out bytes.Buffer
	if json.Indent(&out, b, "", "  ") != nil {
		return string(b)
	}
	return out.String()
}

// bar is one column of the throughput chart.
type bar struct {
	X, Y, H, N int
	Label      string
}

// bars scales counts into the chart's columns, 40 pixels high at most.
func bars(counts [60]int) []bar {
	top := 1
	for _, n := range counts {
		top = max(top, n)
	}
	out := make([]bar, len(counts))
	for i, n := range counts {
		h := n * 40 / top
		if n > 0 {
			h = max(h, 1)
		}
		out[i] = bar{X: i * 5, Y: 40 - h, H: h, N: n, Label: fmt.Sprintf("%d min ago: %d", 60-i, n)}
	}
	return out
}

// inZone is t in loc; a nil loc is UTC.
func inZone(t time.Time, loc *time.Location) time.Time {
	if loc == nil {
		return t.UTC()
	}
	return t.In(loc)
}

// formatBytes shows a size in binary units, one decimal from KiB up.
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n), -1
	for v >= unit && i < 3 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGT"[i])
}
