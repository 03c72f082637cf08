package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/sqlitewal"
)

// openWithoutRowRules opens a queue file with the schema up to migration
// 0005, before the row rules: rows written there are what an upgraded
// database may hold. The caller closes it before running commands.
func openWithoutRowRules(t testing.TB, path string) *sqlitewal.DB {
	t.Helper()
	old := fstest.MapFS{}
	for _, name := range []string{"0001_tasks.sql", "0002_schedules.sql", "0003_status_unique.sql",
		"0004_contract.sql", "0005_state_index_skips_queued.sql"} {
		data, err := fs.ReadFile(queue.Migrations, name)
		if err != nil {
			t.Fatal(err)
		}
		old[name] = &fstest.MapFile{Data: data}
	}
	db, err := sqlitewal.Open(context.Background(), path, sqlitewal.Options{Migrations: old})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// TestOneBadRowStopsNothing runs the cases of issue 14's "one bad row stops
// the whole queue" through the command line, on rows stored before the
// schema refused them (an upgraded database): the good task runs, each bad
// one ends failed with its problem, and every listing, -json output and
// cancel works.
func TestOneBadRowStopsNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	db := openWithoutRowRules(t, path)
	_, err := db.Write.Exec(`INSERT INTO tasks (job, payload) VALUES ('echo_test', '{}');
		INSERT INTO tasks (job, history) VALUES ('echo_test', 'x');
		INSERT INTO tasks (job, priority) VALUES ('echo_test', 'high');
		INSERT INTO tasks (job, max_attempts) VALUES ('echo_test', 'many');
		INSERT INTO tasks (job, timeout_ms) VALUES ('echo_test', 'slow');
		INSERT INTO tasks (job, run_at) VALUES ('echo_test', 'tomorrow');
		INSERT INTO tasks (job, run_at) VALUES ('echo_test', 253402300800000);
		INSERT INTO tasks (job, timeout_ms) VALUES ('echo_test', 0);
		INSERT INTO tasks (job, timeout_ms) VALUES ('echo_test', -5);
		INSERT INTO tasks (job, timeout_ms) VALUES ('echo_test', 315360000000);
		INSERT INTO tasks (job, state, attempt, started_at) VALUES ('echo_test', 'running', 1, 1);
		INSERT INTO tasks (job, state, attempt, worker, history, started_at, lease_until)
			VALUES ('echo_test', 'running', 1, 'gone', 'x', 1, 1);
		INSERT INTO tasks (job, state, attempt, worker, history, started_at, lease_until)
			VALUES ('echo_test', 'running', 1, 'alive', 'x', 1, 253402300799999);`)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	// The upgrade (read-only commands do not migrate).
	s, err := queue.Open(context.Background(), path)
	if err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	s.Close()
	want := map[int]string{ // task id → the error it must end failed with; "" succeeded
		1: "", 2: "invalid row: history is not valid JSON", 3: "invalid row: priority 'high' is not a whole number",
		4: "invalid row: max_attempts 'many'", 5: "invalid row: timeout_ms 'slow'", 6: "invalid row: run_at 'tomorrow'",
		7: "invalid row: run_at 253402300800000", 8: "invalid row: timeout_ms 0", 9: "invalid row: timeout_ms -5",
		10: "invalid row: timeout_ms 315360000000",
		11: "", // running without a lease or a worker: recovered, then run
		12: "", // lease expired: recovered (a new history replaces the bad one), then run
	}

	// Listings before the drain: no Scan error, no JSON error.
	for _, args := range [][]string{{"tasks"}, {"tasks", "-json"}, {"status"}, {"status", "-json"}, {"groups"}} {
		if r := run(t, path, nil, "", args...); r.code != 0 {
			t.Fatalf("%v before the drain: exit %d: %s", args, r.code, r.stderr)
		}
	}
	if r := run(t, path, nil, "", "show", "3"); !strings.Contains(r.stdout, "invalid row: priority 'high' is not a whole number") {
		t.Errorf("show 3 before the drain does not say what is wrong: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	if r := run(t, path, nil, "", "drain"); r.code != 0 {
		t.Fatalf("drain: exit %d: %s", r.code, r.stderr)
	}
	if r := run(t, path, nil, "", "drain"); r.code != 0 {
		t.Fatalf("second drain: exit %d: %s", r.code, r.stderr)
	}
	for id := 1; id <= 13; id++ {
		r := run(t, path, nil, "", "show", "-json", fmt.Sprint(id))
		if r.code != 0 {
			t.Errorf("show -json %d: exit %d: %s", id, r.code, r.stderr)
			continue
		}
		var got struct{ State, Error string }
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
			t.Errorf("show -json %d: %v in %s", id, err, r.stdout)
		}
		if id == 13 { // held by a live worker: left alone, then cancelled below
			if got.State != "running" {
				t.Errorf("task 13: %s; want running", got.State)
			}
			continue
		}
		switch w := want[id]; {
		case w == "" && got.State != "succeeded":
			t.Errorf("task %d: %s %q; want succeeded", id, got.State, got.Error)
		case w != "" && (got.State != "failed" || !strings.HasPrefix(got.Error, w)):
			t.Errorf("task %d: %s %q; want failed with %q", id, got.State, got.Error, w)
		}
		if r := run(t, path, nil, "", "show", fmt.Sprint(id)); r.code != 0 {
			t.Errorf("show %d: exit %d: %s", id, r.code, r.stderr)
		}
	}
	if r := run(t, path, nil, "", "cancel", "13"); r.code != 0 {
		t.Errorf("cancel 13: exit %d: %s", r.code, r.stderr)
	}
	for _, args := range [][]string{{"tasks"}, {"tasks", "-json"}, {"status"}, {"status", "-json"}, {"groups", "-json"}} {
		if r := run(t, path, nil, "", args...); r.code != 0 {
			t.Errorf("%v: exit %d: %s", args, r.code, r.stderr)
		}
	}
}

// FuzzHostileRows inserts rows of random values and types through plain SQL,
// with the schema's row rules in place or dropped (what a hand edit can do),
// beside two good tasks, then drives drain, every listing with and without
// -json, show and cancel through the command line. Nothing may panic or
// fail a command; the good tasks succeed; every row ends final or is
// cancellable.
func FuzzHostileRows(f *testing.F) {
	f.Add([]byte("\x00"), false)
	f.Add([]byte("\x01\x02x\x03\x04\x05"), true)
	f.Add([]byte("\x11history\x02x\x13\x07\xff\xff\xff\xff\xff\xff\xff\x7f"), true)
	f.Add([]byte("\x04running\x22\x00\x00\x00\x00\x00\x00\x00\x00\x12\x05{}{}{"), true)
	f.Fuzz(hostileRowsTarget)
}

// hostileRowsTarget is FuzzHostileRows's target: two good tasks, then the
// rows data decodes to, through every command.
func hostileRowsTarget(t *testing.T, data []byte, dropRules bool) {
	path := filepath.Join(t.TempDir(), "q.db")
	for range 2 {
		if r := run(t, path, nil, "", "enqueue", "echo_test", `{"good":true}`); r.code != 0 {
			t.Fatalf("enqueue: %s", r.stderr)
		}
	}
	s, err := queue.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if dropRules {
		if _, err := s.DB().Write.Exec("DROP TRIGGER tasks_insert_rules; DROP TRIGGER tasks_update_rules"); err != nil {
			t.Fatal(err)
		}
	}
	for _, row := range hostileRows(data) {
		// Refusals (the rules, NOT NULL, the state CHECK, a unique key) are fine.
		_, _ = s.DB().Write.Exec("INSERT INTO tasks ("+strings.Join(row.cols, ", ")+") VALUES ("+
			strings.TrimSuffix(strings.Repeat("?, ", len(row.cols)), ", ")+")", row.vals...)
	}
	var ids []int64
	rows, err := s.DB().Read.Query("SELECT id FROM tasks ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	s.Close()

	if r := run(t, path, nil, "", "drain"); r.code != 0 {
		t.Fatalf("drain: exit %d: %s", r.code, r.stderr)
	}
	for _, args := range [][]string{{"tasks"}, {"tasks", "-json"}, {"status"}, {"status", "-json"}, {"groups"}, {"groups", "-json"}} {
		r := run(t, path, nil, "", args...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d: %s", args, r.code, r.stderr)
		}
		if args[len(args)-1] == "-json" && !json.Valid([]byte(r.stdout)) {
			t.Fatalf("%v: invalid JSON: %s", args, r.stdout)
		}
	}
	for _, id := range ids {
		r := run(t, path, nil, "", "show", "-json", fmt.Sprint(id))
		var got struct{ State, Error string }
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &got) != nil {
			t.Fatalf("show -json %d: exit %d: %s%s", id, r.code, r.stderr, r.stdout)
		}
		if id <= 2 && got.State != "succeeded" {
			t.Fatalf("good task %d: %s %q", id, got.State, got.Error)
		}
		if r := run(t, path, nil, "", "show", fmt.Sprint(id)); r.code != 0 {
			t.Fatalf("show %d: exit %d: %s", id, r.code, r.stderr)
		}
		if got.State == "queued" || got.State == "running" {
			if r := run(t, path, nil, "", "cancel", fmt.Sprint(id)); r.code != 0 {
				t.Fatalf("cancel %d (%s): exit %d: %s", id, got.State, r.code, r.stderr)
			}
		}
	}
}

// hostileRow is one INSERT's columns and values.
type hostileRow struct {
	cols []string
	vals []any
}

// hostileColumns are the tasks columns a fuzzed row may set.
var hostileColumns = []string{"job", "payload", "queue", "priority", "state", "attempt", "max_attempts",
	"timeout_ms", "run_at", "created_at", "started_at", "finished_at", "lease_until", "worker", "duration_ms",
	"result", "error", "history", "task_group", "unique_key", "schedule_id", "scheduled_for"}

// hostileRows decodes data into up to 8 rows. Each byte picks a column (low
// 5 bits) or ends the row (a column number past the list); the next bytes
// give its value: NULL, a small or 8-byte integer, a real, a known word
// (a job, a state, JSON) or text or a blob of the following bytes.
func hostileRows(data []byte) []hostileRow {
	words := []string{"echo_test", "no_such_job", "queued", "running", "succeeded", "failed", "cancelled",
		"[]", "{}", "x", "[1,", `[{"attempt":"x"}]`, "9999999999999999999", "12abc", "", "\x1b[2J"}
	next := func() (byte, bool) {
		if len(data) == 0 {
			return 0, false
		}
		b := data[0]
		data = data[1:]
		return b, true
	}
	var out []hostileRow
	row := hostileRow{}
	for len(out) < 8 {
		c, ok := next()
		if !ok {
			break
		}
		if int(c&0x1f) >= len(hostileColumns) {
			out = append(out, row)
			row = hostileRow{}
			continue
		}
		col := hostileColumns[c&0x1f]
		k, _ := next()
		var v any
		switch k % 8 {
		case 0:
			v = nil
		case 1:
			v = int64(int8(k)) * 7
		case 2:
			var n uint64
			for range 8 {
				b, _ := next()
				n = n<<8 | uint64(b)
			}
			v = int64(n)
		case 3:
			b, _ := next()
			v = []float64{0.5, -1, 1e300, math.Inf(1), 1.7e12, math.NaN()}[int(b)%6]
		case 4, 5:
			b, _ := next()
			v = words[int(b)%len(words)]
		case 6, 7:
			n, _ := next()
			n %= 16
			buf := make([]byte, 0, n)
			for range n {
				b, _ := next()
				buf = append(buf, b)
			}
			if k%8 == 6 {
				v = string(buf)
			} else {
				v = buf
			}
		}
		row.cols = append(row.cols, col)
		row.vals = append(row.vals, v)
	}
	if len(row.cols) > 0 && len(out) < 8 {
		out = append(out, row)
	}
	// A column named twice is an error, not a test: keep the first.
	for i := range out {
		seen := map[string]bool{}
		var r hostileRow
		for j, c := range out[i].cols {
			if !seen[c] {
				seen[c] = true
				r.cols = append(r.cols, c)
				r.vals = append(r.vals, out[i].vals[j])
			}
		}
		if len(r.cols) == 0 {
			r = hostileRow{cols: []string{"job"}, vals: []any{"echo_test"}}
		}
		out[i] = r
	}
	return out
}
