package cli_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/cli"
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/jobs"
	"github.com/sluicehq/sluice/queue"
)

// result is what one in-process run of the command line produced.
type result struct {
	stdout, stderr string
	err            error
	code           int
}

// run runs sluice in-process with environ (SLUICE_DB is set to db unless given).
func run(t *testing.T, db string, environ []string, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	env := append([]string{"SLUICE_DB=" + db}, environ...)
	m := &cli.Main{Environ: env, Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb}
	err := m.Run(context.Background(), args)
	if err != nil {
		cli.PrintError(&errb, err)
	}
	return result{out.String(), errb.String(), err, cli.ExitCode(err)}
}

func countTasks(t *testing.T, db string) int {
	t.Helper()
	s, err := queue.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	counts, err := s.Counts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range counts {
		n += c
	}
	return n
}

func TestEnqueueThenDrain(t *testing.T) {
	db := filepath.Join(t.TempDir(), "new", "sluice.db")
	r := run(t, db, nil, "", "enqueue", "echo_test", `{"hello":"world"}`)
	if r.code != 0 || strings.TrimSpace(r.stdout) != "1" {
		t.Fatalf("enqueue: code %d out %q err %q", r.code, r.stdout, r.stderr)
	}
	r = run(t, db, nil, `{"from":"stdin"}`, "enqueue", "-queue", "other", "-priority", "3", "echo_test", "-")
	if r.code != 0 {
		t.Fatalf("enqueue from stdin: %s", r.stderr)
	}
	r = run(t, db, nil, "", "drain")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "drained: 2 ran, 2 succeeded, 0 failed, 0 retried later") {
		t.Fatalf("drain: code %d out %q err %q", r.code, r.stdout, r.stderr)
	}
	s, _ := queue.Open(context.Background(), db)
	defer s.Close()
	task, err := s.Get(context.Background(), 2)
	if err != nil || string(task.Result) != `{"from":"stdin"}` || task.Queue != "other" || task.Priority != 3 {
		t.Errorf("task 2 = %+v, %v", task, err)
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "sluice.db")
	run(t, db, nil, "", "enqueue", "echo_test") // the database exists with one task
	notDB := filepath.Join(dir, "notes.txt")
	os.WriteFile(notDB, []byte("my notes\n"), 0o600)
	blocker := filepath.Join(dir, "file")
	os.WriteFile(blocker, nil, 0o600)

	tests := []struct {
		name    string
		db      string
		environ []string
		args    []string
		code    int
		want    []string
	}{
		{"malformed payload", db, nil, []string{"enqueue", "echo_test", `{"a":`}, 2,
			[]string{"payload is not valid JSON"}},
		{"unknown job", db, nil, []string{"enqueue", "sned_mail", `{}`}, 2,
			[]string{`unknown job "sned_mail"`, "registered: echo_test"}},
		{"three bad variables", db, []string{"SLUICE_WORKERS=abc", "SLUICE_TIMEOUT=soon", "SLUICE_WORKRES=2"}, []string{"drain"}, 78,
			[]string{"3 problems", `SLUICE_WORKERS="abc"`, `SLUICE_TIMEOUT="soon"`, "SLUICE_WORKRES: unknown variable"}},
		{"retry not above timeout", db, []string{"SLUICE_TIMEOUT=3m", "SLUICE_RETRY=3m"}, []string{"drain"}, 78,
			[]string{"SLUICE_RETRY=3m0s: the lease must exceed SLUICE_TIMEOUT + SLUICE_KILL_GRACE"}},
		{"folder cannot be created", filepath.Join(blocker, "sub", "q.db"), nil, []string{"drain"}, 1,
			[]string{"create folder", blocker}},
		{"not a database", notDB, nil, []string{"drain"}, 1,
			[]string{"not a SQLite database", notDB}},
		{"unknown command", db, nil, []string{"drian"}, 2, []string{`unknown command "drian"`}},
		{"bad flag", db, nil, []string{"drain", "-max-tasks", "x"}, 2, []string{"invalid value"}},
		{"delay and at", db, nil, []string{"enqueue", "-delay", "1m", "-at", "2026-01-01T00:00:00Z", "echo_test"}, 2,
			[]string{"cannot be used together"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, tt.db, tt.environ, "", tt.args...)
			if r.code != tt.code {
				t.Errorf("exit code %d; want %d (stderr %q)", r.code, tt.code, r.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr %q does not contain %q", r.stderr, w)
				}
			}
		})
	}
	if n := countTasks(t, db); n != 1 {
		t.Errorf("tasks = %d after bad input; want the 1 from before", n)
	}
	if b, _ := os.ReadFile(notDB); string(b) != "my notes\n" {
		t.Errorf("the non-database file changed: %q", b)
	}
}

func TestConfigPrintsEffectiveValues(t *testing.T) {
	r := run(t, "x.db", []string{"SLUICE_WORKERS=9"}, "", "config")
	if r.code != 0 || !strings.Contains(r.stdout, "SLUICE_WORKERS=9") || !strings.Contains(r.stdout, "# set:") ||
		!strings.Contains(r.stdout, "SLUICE_TIMEOUT=2m0s") || !strings.Contains(r.stdout, "jobs: echo_test") {
		t.Errorf("config output:\n%s", r.stdout)
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"help", "drain"}, {"enqueue", "-h"}, {"--help"}} {
		r := run(t, "x.db", nil, "", args...)
		if r.code != 0 || !strings.Contains(r.stdout, "Usage:") {
			t.Errorf("%v: code %d stdout %q", args, r.code, r.stdout)
		}
	}
	if r := run(t, "x.db", nil, ""); r.code != 2 {
		t.Errorf("no command: code %d; want 2", r.code)
	}
}

// TestReadmeListsEveryCommand keeps the README's Commands table in step
// with 'sluice help'.
func TestReadmeListsEveryCommand(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, table, _ := strings.Cut(string(readme), "\n## Commands\n")
	table, _, _ = strings.Cut(table, "\n## ")
	help := run(t, "x.db", nil, "", "help").stdout
	_, list, _ := strings.Cut(help, "Commands:\n")
	list, _, _ = strings.Cut(list, "\n\n")
	names := strings.Split(list, "\n")
	if len(names) < 10 {
		t.Fatalf("help lists %d commands:\n%s", len(names), help)
	}
	for _, line := range names {
		name := strings.Fields(line)[0]
		if !strings.Contains(table, "`sluice "+name) {
			t.Errorf("README's Commands table does not list %q", name)
		}
	}
}

func TestExitCodes(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want int
	}{
		{nil, 0},
		{errors.New("disk on fire"), 1},
		{fmt.Errorf("drain: %w", &cli.UsageError{Msg: "bad flag"}), 2},
		{&config.Error{Problems: []string{"x"}}, 78},
		{fmt.Errorf("handler: %w", jobs.Permanent(errors.New("bad payload"))), jobs.ExitPermanent},
	} {
		if got := cli.ExitCode(tt.err); got != tt.want {
			t.Errorf("ExitCode(%v) = %d; want %d", tt.err, got, tt.want)
		}
	}
}
