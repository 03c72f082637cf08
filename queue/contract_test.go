package queue_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/jobs"
	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/worker"
)

// The SQL contract (docs/sql-contract.md) pinned: the statements are read
// from the document itself, and the columns they rely on are compared with
// golden lists. A failure here means a change would break clients in other
// languages: add a contract version instead (see the document).

const contractDoc = "../docs/sql-contract.md"

// contractVersion is the version these tests pin.
const contractVersion = 1

// contractStatements returns the SQL blocks of the contract document by name,
// each split into its statements.
func contractStatements(tb testing.TB) map[string][]string {
	tb.Helper()
	doc, err := os.ReadFile(contractDoc)
	if err != nil {
		tb.Fatal(err)
	}
	re := regexp.MustCompile("(?s)<!-- contract:([a-z]+) -->\n```sql\n(.*?)```")
	out := map[string][]string{}
	for _, m := range re.FindAllStringSubmatch(string(doc), -1) {
		for stmt := range strings.SplitSeq(m[2], ";\n") {
			if s := strings.TrimSpace(stmt); s != "" {
				out[m[1]] = append(out[m[1]], strings.TrimSuffix(s, ";"))
			}
		}
	}
	for _, name := range []string{"connect", "version", "enqueue", "followups", "get"} {
		if len(out[name]) == 0 {
			tb.Fatalf("%s: no <!-- contract:%s --> sql block", contractDoc, name)
		}
	}
	return out
}

// clientDB opens path the way a foreign client does: a plain connection, no
// pragmas from Sluice, then the contract's connect statements.
func clientDB(tb testing.TB, path string, stmts map[string][]string) *sql.DB {
	tb.Helper()
	db, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		tb.Fatal(err)
	}
	db.SetMaxOpenConns(1) // pragmas are per connection
	tb.Cleanup(func() { db.Close() })
	for _, s := range stmts["connect"] {
		var v string
		if err := db.QueryRow(s).Scan(&v); err != nil && !errors.Is(err, sql.ErrNoRows) { // setting synchronous returns no row
			tb.Fatalf("%s: %v", s, err)
		}
		if strings.Contains(s, "journal_mode") && v != "wal" {
			tb.Fatalf("%s returned %q; want wal", s, v)
		}
	}
	var sync int
	if err := db.QueryRow("PRAGMA synchronous").Scan(&sync); err != nil || sync != 2 {
		tb.Fatalf("synchronous = %d, %v after the connect statements; want 2 (FULL)", sync, err)
	}
	var version int
	if err := db.QueryRow(stmts["version"][0]).Scan(&version); err != nil || version != contractVersion {
		tb.Fatalf("version check: %d, %v; want %d", version, err, contractVersion)
	}
	return db
}

// freshQueue creates a queue file the way Sluice does and returns its path.
func freshQueue(tb testing.TB) (*queue.Store, string) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "q.db")
	s, err := queue.Open(context.Background(), path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s, path
}

type column struct {
	Name, Type string
	NotNull    bool
	Default    string
	PK         bool
}

func columns(tb testing.TB, db *sql.DB, table string) []column {
	tb.Helper()
	rows, err := db.Query(`SELECT name, type, "notnull", coalesce(dflt_value, ''), pk FROM pragma_table_info(?)`, table)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	var out []column
	for rows.Next() {
		var c column
		if err := rows.Scan(&c.Name, &c.Type, &c.NotNull, &c.Default, &c.PK); err != nil {
			tb.Fatal(err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

func TestContractColumns(t *testing.T) {
	stmts := contractStatements(t)
	_, path := freshQueue(t)
	db := clientDB(t, path, stmts)

	t.Run("tasks", func(t *testing.T) {
		// Every column the enqueue statement names or leaves to its default.
		// Columns may be added to tasks; these may not change.
		golden := []column{
			{Name: "id", Type: "INTEGER", PK: true},
			{Name: "job", Type: "TEXT", NotNull: true},
			{Name: "payload", Type: "TEXT", NotNull: true, Default: "'{}'"},
			{Name: "queue", Type: "TEXT", NotNull: true, Default: "'default'"},
			{Name: "priority", Type: "INTEGER", NotNull: true, Default: "0"},
			{Name: "state", Type: "TEXT", NotNull: true, Default: "'queued'"},
			{Name: "attempt", Type: "INTEGER", NotNull: true, Default: "0"},
			{Name: "max_attempts", Type: "INTEGER"},
			{Name: "timeout_ms", Type: "INTEGER"},
			{Name: "run_at", Type: "INTEGER", NotNull: true, Default: "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"},
			{Name: "created_at", Type: "INTEGER", NotNull: true, Default: "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"},
			{Name: "history", Type: "TEXT", NotNull: true, Default: "'[]'"},
			{Name: "task_group", Type: "TEXT"},
		}
		got := columns(t, db, "tasks")
		for _, want := range golden {
			i := slices.IndexFunc(got, func(c column) bool { return c.Name == want.Name })
			if i < 0 {
				t.Errorf("column %s is gone from tasks", want.Name)
				continue
			}
			if got[i] != want {
				t.Errorf("column %+v; want %+v", got[i], want)
			}
		}
	})

	t.Run("sluice_tasks_v1", func(t *testing.T) {
		// The read view is frozen: no column added, removed, renamed or retyped.
		golden := []column{
			{Name: "id", Type: "INTEGER"}, {Name: "job", Type: "TEXT"}, {Name: "payload", Type: "TEXT"},
			{Name: "queue", Type: "TEXT"}, {Name: "priority", Type: "INTEGER"}, {Name: "state", Type: "TEXT"},
			{Name: "attempt", Type: "INTEGER"}, {Name: "max_attempts", Type: "INTEGER"},
			{Name: "timeout_ms", Type: "INTEGER"}, {Name: "task_group", Type: "TEXT"},
			{Name: "run_at", Type: "INTEGER"}, {Name: "created_at", Type: "INTEGER"},
			{Name: "started_at", Type: "INTEGER"}, {Name: "finished_at", Type: "INTEGER"},
			{Name: "duration_ms", Type: "INTEGER"}, {Name: "result", Type: "TEXT"}, {Name: "error", Type: "TEXT"},
			{Name: "history", Type: "TEXT"},
		}
		got := columns(t, db, "sluice_tasks_v1")
		for i := range got {
			got[i].NotNull, got[i].Default = false, "" // a view reports neither
		}
		if !slices.Equal(got, golden) {
			t.Errorf("sluice_tasks_v1 columns:\n got %+v\nwant %+v", got, golden)
		}
	})

	t.Run("states", func(t *testing.T) {
		doc, err := os.ReadFile(contractDoc)
		if err != nil {
			t.Fatal(err)
		}
		_, section, _ := strings.Cut(string(doc), "### States")
		section, _, _ = strings.Cut(section, "\n## ")
		var documented []queue.State
		for _, m := range regexp.MustCompile("(?m)^\\| `([a-z]+)` \\|").FindAllStringSubmatch(section, -1) {
			documented = append(documented, queue.State(m[1]))
		}
		if !slices.Equal(documented, queue.States) {
			t.Errorf("documented states %v; the code has %v", documented, queue.States)
		}
		for _, st := range append(documented, "bogus") {
			_, err := db.Exec("INSERT INTO tasks (job, state, run_at, created_at) VALUES ('x', ?, 0, 0)", string(st))
			// Only a worker's claim makes a task running (migration 0007).
			if refused := st == "bogus" || st == queue.Running; refused && err == nil {
				t.Errorf("the table accepted state %s", st)
			} else if !refused && err != nil {
				t.Errorf("state %s: %v", st, err)
			}
		}
	})
}

// enqueueSQL runs the contract's enqueue statement; absent args are NULL.
func enqueueSQL(tb testing.TB, db *sql.DB, stmts map[string][]string, args map[string]any) int64 {
	tb.Helper()
	var named []any
	for _, name := range []string{"job", "payload", "queue", "priority", "run_at", "max_attempts", "timeout_ms", "task_group"} {
		named = append(named, sql.Named(name, args[name]))
	}
	res, err := db.Exec(stmts["enqueue"][0], named...)
	if err != nil {
		tb.Fatalf("enqueue %v: %v", args, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

// contractTask is a row of the contract's get statement.
type contractTask struct {
	ID                                int64
	Job, Payload, Queue               string
	Priority                          int
	State                             string
	Attempt                           int
	MaxAttempts, TimeoutMS            sql.NullInt64
	Group                             sql.NullString
	RunAt, CreatedAt                  int64
	StartedAt, FinishedAt, DurationMS sql.NullInt64
	Result, Error                     sql.NullString
	History                           string
}

func getSQL(tb testing.TB, db *sql.DB, stmts map[string][]string, id int64) contractTask {
	tb.Helper()
	var c contractTask
	err := db.QueryRow(stmts["get"][0], sql.Named("id", id)).Scan(&c.ID, &c.Job, &c.Payload, &c.Queue, &c.Priority,
		&c.State, &c.Attempt, &c.MaxAttempts, &c.TimeoutMS, &c.Group, &c.RunAt, &c.CreatedAt, &c.StartedAt,
		&c.FinishedAt, &c.DurationMS, &c.Result, &c.Error, &c.History)
	if err != nil {
		tb.Fatalf("get %d: %v", id, err)
	}
	return c
}

func TestContractStatements(t *testing.T) {
	stmts := contractStatements(t)
	s, path := freshQueue(t)
	db := clientDB(t, path, stmts)
	ctx := context.Background()

	before := time.Now().UnixMilli()
	minimal := enqueueSQL(t, db, stmts, map[string]any{"job": "echo_test"})
	after := time.Now().UnixMilli()
	runAt := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	full := enqueueSQL(t, db, stmts, map[string]any{"job": "report", "payload": `{"n":1}`, "queue": "mail",
		"priority": 7, "run_at": runAt.UnixMilli(), "max_attempts": 5, "timeout_ms": 2500, "task_group": "g"})

	t.Run("defaults", func(t *testing.T) {
		c := getSQL(t, db, stmts, minimal)
		if c.Job != "echo_test" || c.Payload != "{}" || c.Queue != "default" || c.Priority != 0 || c.State != "queued" ||
			c.Attempt != 0 || c.MaxAttempts.Valid || c.TimeoutMS.Valid || c.Group.Valid || c.History != "[]" ||
			c.Result.Valid || c.Error.Valid || c.FinishedAt.Valid {
			t.Errorf("minimal task = %+v", c)
		}
		// julianday's precision is a fraction of a millisecond.
		if c.RunAt < before-1 || c.RunAt > after+1 || c.CreatedAt != c.RunAt {
			t.Errorf("run_at %d, created_at %d; want both in [%d, %d]", c.RunAt, c.CreatedAt, before, after)
		}
	})

	t.Run("every option reaches the Go API", func(t *testing.T) {
		got, err := s.Get(ctx, full)
		if err != nil {
			t.Fatal(err)
		}
		if got.Job != "report" || string(got.Payload) != `{"n":1}` || got.Queue != "mail" || got.Priority != 7 ||
			!got.RunAt.Equal(runAt) || got.MaxAttempts != 5 || got.Timeout != 2500*time.Millisecond || got.Group != "g" {
			t.Errorf("task = %+v", got)
		}
	})

	t.Run("results read back", func(t *testing.T) {
		w := worker.New(s, jobs.NewRegistry(), worker.Options{})
		if _, err := w.Drain(ctx, worker.DrainOpts{}); err != nil {
			t.Fatal(err)
		}
		c := getSQL(t, db, stmts, minimal)
		if c.State != "succeeded" || c.Result.String != "{}" || c.Attempt != 1 || !c.FinishedAt.Valid ||
			!c.DurationMS.Valid || !c.StartedAt.Valid {
			t.Errorf("drained task = %+v", c)
		}
		var history []map[string]any
		if err := json.Unmarshal([]byte(c.History), &history); err != nil || len(history) != 1 ||
			history[0]["outcome"] != "succeeded" {
			t.Errorf("history %s (%v); want one succeeded attempt", c.History, err)
		}
		if c := getSQL(t, db, stmts, full); c.State != "queued" {
			t.Errorf("future task state = %s; want queued", c.State)
		}
	})

	t.Run("no such task", func(t *testing.T) {
		err := db.QueryRow(stmts["get"][0], sql.Named("id", 999)).Scan(new(int64))
		if err != sql.ErrNoRows {
			t.Errorf("err = %v; want no rows", err)
		}
	})
}

// TestContractBadRows drives rows that SQL lets in but a job cannot use
// through real drains: each ends failed with an error naming the problem,
// and the good task beside them still succeeds.
func TestContractBadRows(t *testing.T) {
	stmts := contractStatements(t)
	s, path := freshQueue(t)
	db := clientDB(t, path, stmts)
	ctx := context.Background()

	badJSON := enqueueSQL(t, db, stmts, map[string]any{"job": "echo_test", "payload": `{"a":`})
	unknown := enqueueSQL(t, db, stmts, map[string]any{"job": "no_such_job", "max_attempts": 2})
	good := enqueueSQL(t, db, stmts, map[string]any{"job": "echo_test", "payload": `[1,2]`})

	w := worker.New(s, jobs.NewRegistry(), worker.Options{Backoff: worker.Backoff{Base: time.Millisecond}})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := w.Drain(ctx, worker.DrainOpts{}); err != nil {
			t.Fatal(err)
		}
		counts, err := s.Counts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if counts[queue.Queued]+counts[queue.Running] == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tasks still unfinished after 30s: %v", counts)
		}
		// The unknown job's retry is due a few milliseconds out.
		next, err := s.NextDue(ctx)
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-time.After(time.Until(next)):
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		}
	}

	tests := []struct {
		name     string
		id       int64
		state    string
		attempts int
		err      string
	}{
		{"invalid JSON fails at once", badJSON, "failed", 1, `payload is not valid JSON: "{\"a\":"`},
		{"unknown job is retried, then fails", unknown, "failed", 2, `unknown job "no_such_job" (registered: echo_test)`},
		{"good task succeeds", good, "succeeded", 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := getSQL(t, db, stmts, tt.id)
			if c.State != tt.state || c.Attempt != tt.attempts || c.Error.String != tt.err {
				t.Errorf("state %s, attempt %d, error %q; want %s, %d, %q", c.State, c.Attempt, c.Error.String,
					tt.state, tt.attempts, tt.err)
			}
			var history []struct{ Outcome, Error string }
			if err := json.Unmarshal([]byte(c.History), &history); err != nil || len(history) != tt.attempts {
				t.Fatalf("history %s (%v); want %d attempts", c.History, err, tt.attempts)
			}
			if last := history[len(history)-1]; last.Error != tt.err {
				t.Errorf("last attempt's error %q; want %q", last.Error, tt.err)
			}
		})
	}
}

// TestPythonClientCarriesTheContract checks that the Python client's SQL is
// the document's, so neither can drift from the other.
func TestPythonClientCarriesTheContract(t *testing.T) {
	stmts := contractStatements(t)
	py, err := os.ReadFile("../clients/python/sluice_queue.py")
	if err != nil {
		t.Fatal(err)
	}
	norm := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	code := norm(string(py))
	for _, name := range []string{"connect", "version", "enqueue", "followups", "get"} {
		for _, s := range stmts[name] {
			if !strings.Contains(code, norm(s)) {
				t.Errorf("clients/python/sluice_queue.py lacks the %s statement:\n%s", name, s)
			}
		}
	}
}

// TestContractFollowUps enqueues a task with follow-ups through the
// document's statement and checks that Sluice's outcome enqueues them.
func TestContractFollowUps(t *testing.T) {
	stmts := contractStatements(t)
	s, path := freshQueue(t)
	db := clientDB(t, path, stmts)
	res, err := db.Exec(stmts["followups"][0], sql.Named("job", "first"),
		sql.Named("follow_ups", `[{"job":"next","payload":{"n":1}},{"job":"hook","when":"done"}]`))
	if err != nil {
		t.Fatal(err)
	}
	id, _ := res.LastInsertId()
	ctx := context.Background()
	p := queue.ClaimParams{Worker: "w", Limit: 1, DefaultTimeout: time.Minute, DefaultMaxAttempts: 1, LeaseMargin: time.Minute}
	claimed, err := s.Exchange(ctx, nil, p)
	if err != nil || len(claimed.Claimed) != 1 {
		t.Fatalf("claim: %v, %+v", err, claimed)
	}
	p.Limit = 0
	if _, err := s.Exchange(ctx, []queue.Outcome{{ID: id, Attempt: 1, Kind: queue.Fail, Error: "no"}}, p); err != nil {
		t.Fatal(err)
	}
	var jobs []string
	rows, err := db.Query(`SELECT job FROM sluice_tasks_v1 WHERE id > ? ORDER BY id`, id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var j string
		rows.Scan(&j)
		jobs = append(jobs, j)
	}
	if !slices.Equal(jobs, []string{"hook"}) {
		t.Errorf("after a final failure: tasks %v; want only the hook", jobs)
	}
}
