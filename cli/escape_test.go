package cli_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/queue"
)

// TestHumanOutputEscapesControlCharacters: names, errors and payloads that
// producers wrote with escape sequences reach the terminal escaped.
func TestHumanOutputEscapesControlCharacters(t *testing.T) {
	db := filepath.Join(t.TempDir(), "sluice.db")
	s, err := queue.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	const title = "\x1b]0;owned\x07" // retitles a terminal
	const clear = "\x1b[2J\x1b[H"    // clears it
	for _, q := range []string{
		`INSERT INTO tasks(job, queue, payload, task_group) VALUES ('j` + title + `', 'q` + clear + `', '{"a":"` + clear + `"}', 'g` + title + `')`,
		`INSERT INTO tasks(job, queue, state, attempt, error, started_at, finished_at, duration_ms, history)
		 VALUES ('echo_test', 'default', 'failed', 1, 'boom` + clear + "\r\u202e" + `', 1, 2, 1,
		         '[{"attempt":1,"outcome":"failed","started_at":1,"duration_ms":1,"error":"x\u001b]0;owned\u0007"}]')`,
	} {
		if _, err := s.DB().Write.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	for _, args := range [][]string{{"status"}, {"tasks"}, {"tasks", "-state", "failed"}, {"groups"}, {"show", "1"}, {"show", "2"}} {
		r := run(t, db, nil, "", args...)
		if r.err != nil {
			t.Fatalf("%s: %v %s", args, r.err, r.stderr)
		}
		if strings.ContainsAny(r.stdout, "\x1b\x07\r\u202e") {
			t.Errorf("%s printed a control character raw:\n%q", args, r.stdout)
		}
		if !strings.Contains(r.stdout, `\x1b`) {
			t.Errorf("%s shows no escaped ESC:\n%s", args, r.stdout)
		}
	}
}
