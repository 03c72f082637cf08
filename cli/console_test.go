package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/config"
)

// TestConsoleJSON: in JSON log mode the fatal error and the stop notices
// are JSON records like the logs; with text logs they stay plain lines.
func TestConsoleJSON(t *testing.T) {
	var b bytes.Buffer
	c := NewConsole(&b, []string{"SLUICE_LOG_FORMAT=json"})
	c.Notice("SIGTERM: stopping gracefully")
	c.Error(&config.Error{Problems: []string{"SLUICE_WORKERS: bad", "SLUICE_TIMEOUT: bad"}})
	c.Error(withCmd(usagef("schedule add: missing NAME"), "schedule add"))
	var recs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("not a JSON record: %q", line)
		}
		recs = append(recs, r)
	}
	if len(recs) != 3 || recs[0]["level"] != "WARN" || recs[1]["msg"] != "invalid configuration" ||
		len(recs[1]["problems"].([]any)) != 2 || recs[1]["exit_code"] != float64(78) ||
		recs[2]["help"] != "sluice schedule add -h" || recs[2]["exit_code"] != float64(2) {
		t.Errorf("records: %v", recs)
	}

	b.Reset()
	c = NewConsole(&b, []string{"SLUICE_LOG_FORMAT=text"})
	c.Notice("SIGTERM: stopping gracefully")
	if b.String() != "sluice: SIGTERM: stopping gracefully\n" {
		t.Errorf("text notice %q", b.String())
	}
}
