package pgqueue_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/internal/pgtest"
	"github.com/sluicehq/sluice/queue"
)

// The PostgreSQL form of the SQL contract (docs/sql-contract.md) pinned:
// the statements are read from the document itself and run against a real
// server, as queue/contract_test.go does for SQLite.

const contractDoc = "../docs/sql-contract.md"

// pgContract returns the document's PostgreSQL blocks by name.
func pgContract(tb testing.TB) map[string]string {
	tb.Helper()
	doc, err := os.ReadFile(contractDoc)
	if err != nil {
		tb.Fatal(err)
	}
	re := regexp.MustCompile("(?s)<!-- contract-pg:([a-z]+) -->\n```sql\n(.*?);\n```")
	out := map[string]string{}
	for _, m := range re.FindAllStringSubmatch(string(doc), -1) {
		out[m[1]] = m[2]
	}
	for _, name := range []string{"version", "enqueue", "get"} {
		if out[name] == "" {
			tb.Fatalf("%s: no <!-- contract-pg:%s --> sql block with one statement", contractDoc, name)
		}
	}
	return out
}

// contractTask is a row of the get statement.
type contractTask struct {
	ID, Priority, Attempt, RunAt, CreatedAt                   int64
	Job, Payload, Queue, State                                string
	MaxAttempts, TimeoutMS, StartedAt, FinishedAt, DurationMS *int64
	Group, Result, Error                                      *string
	History                                                   []map[string]any
}

func TestContractStatementsPostgres(t *testing.T) {
	ctx := context.Background()
	stmts := pgContract(t)
	url := pgtest.URL(t)
	s := openStore(t, url, nil) // creates the schema, as Sluice does
	client, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close(ctx)

	var version int
	if err := client.QueryRow(ctx, stmts["version"]).Scan(&version); err != nil || version != 1 {
		t.Fatalf("version = %d, %v; want 1", version, err)
	}
	enqueue := func(args ...any) int64 {
		t.Helper()
		var id int64
		if err := client.QueryRow(ctx, stmts["enqueue"], args...).Scan(&id); err != nil {
			t.Fatalf("enqueue %v: %v", args, err)
		}
		return id
	}
	get := func(id int64) contractTask {
		t.Helper()
		var c contractTask
		err := client.QueryRow(ctx, stmts["get"], id).Scan(&c.ID, &c.Job, &c.Payload, &c.Queue, &c.Priority, &c.State,
			&c.Attempt, &c.MaxAttempts, &c.TimeoutMS, &c.Group, &c.RunAt, &c.CreatedAt, &c.StartedAt, &c.FinishedAt,
			&c.DurationMS, &c.Result, &c.Error, &c.History)
		if err != nil {
			t.Fatalf("get %d: %v", id, err)
		}
		return c
	}

	before := dbNow(t, s).UnixMilli()
	minimal := enqueue("echo_test", nil, nil, nil, nil, nil, nil, nil)
	after := dbNow(t, s).UnixMilli()
	runAt := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	full := enqueue("report", `{"n":1}`, "mail", 7, runAt.UnixMilli(), 5, 2500, "g")

	t.Run("defaults", func(t *testing.T) {
		c := get(minimal)
		if c.Job != "echo_test" || c.Payload != "{}" || c.Queue != "default" || c.Priority != 0 || c.State != "queued" ||
			c.Attempt != 0 || c.MaxAttempts != nil || c.TimeoutMS != nil || c.Group != nil || len(c.History) != 0 ||
			c.Result != nil || c.Error != nil || c.FinishedAt != nil {
			t.Errorf("minimal task = %+v", c)
		}
		if c.RunAt < before || c.RunAt > after || c.CreatedAt != c.RunAt {
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
		res := exchange(t, s, nil, params)
		if len(res.Claimed) != 1 || res.Claimed[0].ID != minimal {
			t.Fatalf("claimed %v; want the due task %d", ids(res.Claimed), minimal)
		}
		exchange(t, s, []queue.Outcome{{ID: minimal, Attempt: 1, Kind: queue.Succeed, Result: []byte("{}"),
			Duration: time.Millisecond}}, queue.ClaimParams{Worker: params.Worker})
		c := get(minimal)
		if c.State != "succeeded" || c.Result == nil || *c.Result != "{}" || c.Attempt != 1 || c.FinishedAt == nil ||
			c.DurationMS == nil || c.StartedAt == nil {
			t.Errorf("finished task = %+v", c)
		}
		if len(c.History) != 1 || c.History[0]["outcome"] != "succeeded" {
			t.Errorf("history %v; want one succeeded attempt", c.History)
		}
	})

	t.Run("no such task", func(t *testing.T) {
		err := client.QueryRow(ctx, stmts["get"], 999).Scan(new(int64))
		if !errors.Is(err, pgx.ErrNoRows) {
			t.Errorf("err = %v; want no rows", err)
		}
	})
}

// TestContractViewsMatchSQLite: the views have the same columns, in the
// same order, on both engines.
func TestContractViewsMatchSQLite(t *testing.T) {
	ctx := context.Background()
	lite, err := queue.Open(ctx, filepath.Join(t.TempDir(), "q.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	s := mustStore(t, nil)
	for _, view := range []string{"sluice_contract", "sluice_tasks_v1"} {
		rows, err := lite.DB().Read.QueryContext(ctx, "SELECT name FROM pragma_table_info(?)", view)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				t.Fatal(err)
			}
			want = append(want, name)
		}
		rows.Close()
		prows, err := s.Pool().Query(ctx, `SELECT column_name::text FROM information_schema.columns
			WHERE table_name = $1 ORDER BY ordinal_position`, view)
		if err != nil {
			t.Fatal(err)
		}
		got, err := pgx.CollectRows(prows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		if len(want) == 0 || !slices.Equal(got, want) {
			t.Errorf("%s columns:\n postgres %s\n sqlite   %s", view, strings.Join(got, ", "), strings.Join(want, ", "))
		}
	}
}

// TestDjangoCarriesThePostgresContract checks that sluice_django's inserts
// on PostgreSQL are the document's, with psycopg's %s for $1, $2, ..., so
// neither can drift from the other. The follow-ups insert is checked once
// the document has it.
func TestDjangoCarriesThePostgresContract(t *testing.T) {
	stmts := pgContract(t)
	py, err := os.ReadFile("../clients/python/sluice_django/postgres.py")
	if err != nil {
		t.Fatal(err)
	}
	norm := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	for _, name := range []string{"enqueue", "followups"} {
		stmt, ok := stmts[name]
		if !ok && name == "followups" {
			continue
		}
		want := norm(regexp.MustCompile(`\$[1-9]\b`).ReplaceAllString(stmt, "%s"))
		if !strings.Contains(norm(string(py)), want) {
			t.Errorf("clients/python/sluice_django/postgres.py lacks the contract-pg:%s statement with %%s:\n%s", name, want)
		}
	}
}

// TestFollowUpsContractInsert: the documented PostgreSQL insert with
// follow_ups, as a client of another language runs it, chains a task whose
// payload is kept as written.
func TestFollowUpsContractInsert(t *testing.T) {
	ctx := context.Background()
	s := mustStore(t, nil)
	var id int64
	err := s.Pool().QueryRow(ctx, pgContract(t)["followups"], "first", nil, nil, nil, nil, nil, nil, nil,
		`[{"job":"next","payload":{"b":1,  "a":2}},{"job":"hook","when":"done"}]`).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	exchange(t, s, nil, params)
	exchange(t, s, []queue.Outcome{{ID: id, Attempt: 1, Kind: queue.Succeed, Result: []byte(`1`)}}, queue.ClaimParams{Worker: params.Worker})
	next, err := s.List(ctx, queue.ListParams{Job: "next"})
	if err != nil || len(next) != 1 {
		t.Fatalf("chain steps = %+v, %v; want one", next, err)
	}
	if got, err := s.Get(ctx, next[0].ID); err != nil || string(got.Payload) != `{"b":1,  "a":2}` {
		t.Errorf("chain step = %+v, %v; want next with its payload as written", got, err)
	}
	if hooks, err := s.List(ctx, queue.ListParams{Job: "hook"}); err != nil || len(hooks) != 1 {
		t.Errorf("%d hooks, %v; want 1", len(hooks), err)
	}
}
