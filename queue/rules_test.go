package queue_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/jobs"
	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/worker"
)

// TestSchemaRefusesBadRows: the rows of issue 14 ("one bad row stops the
// whole queue"), inserted by a foreign client, are refused by the schema
// with an error naming the rule, and nothing is stored.
func TestSchemaRefusesBadRows(t *testing.T) {
	stmts := contractStatements(t)
	_, path := freshQueue(t)
	db := clientDB(t, path, stmts)

	tests := []struct {
		name, columns, values, want string
	}{
		{"history not JSON", "history", "'x'", "history must be a JSON array"},
		{"history an object", "history", "'{}'", "history must be a JSON array"},
		{"priority text", "priority", "'high'", "priority must be a whole number, 0 or more"},
		{"priority negative", "priority", "-1", "priority must be a whole number, 0 or more"},
		{"priority real", "priority", "1.5", "priority must be a whole number, 0 or more"},
		{"max_attempts text", "max_attempts", "'three'", "max_attempts must be NULL or a whole number, 1 or more"},
		{"max_attempts 0", "max_attempts", "0", "max_attempts must be NULL or a whole number, 1 or more"},
		{"timeout_ms text", "timeout_ms", "'slow'", "timeout_ms must be NULL or a whole number of milliseconds"},
		{"timeout_ms 0", "timeout_ms", "0", "timeout_ms must be NULL or a whole number of milliseconds"},
		{"timeout_ms negative", "timeout_ms", "-5", "timeout_ms must be NULL or a whole number of milliseconds"},
		{"timeout_ms 10 years", "timeout_ms", "315360000000", "from 1 to 86400000 (24 hours)"},
		{"run_at text", "run_at", "'tomorrow'", "run_at must be Unix milliseconds"},
		{"run_at past year 9999", "run_at", "253402300800000", "run_at must be Unix milliseconds"},
		{"run_at in microseconds", "run_at", "1767225600000000", "run_at must be Unix milliseconds"},
		{"running", "state, lease_until", "'running', 1", "a task is running only once a worker claims it"},
		{"running with a lease past 9999", "state, lease_until", "'running', 253402300800000", "lease_until"},
		{"empty job", "job", "''", "job must be a non-empty text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cols, vals := "job, "+tt.columns, "'echo_test', "+tt.values
			if strings.HasPrefix(tt.columns, "job") {
				cols, vals = tt.columns, tt.values
			}
			_, err := db.Exec("INSERT INTO tasks (" + cols + ") VALUES (" + vals + ")")
			if err == nil || !strings.Contains(err.Error(), "invalid row: ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("insert %s = %s: %v; want refused with %q", cols, vals, err, tt.want)
			}
		})
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM tasks").Scan(&n); err != nil || n != 0 {
		t.Errorf("%d tasks stored (%v); want none", n, err)
	}

	t.Run("numeric text is stored as a number", func(t *testing.T) {
		// INTEGER affinity converts '5' before the rules look at it.
		if _, err := db.Exec("INSERT INTO tasks (job, priority) VALUES ('echo_test', '5')"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("an update of a client's column is checked", func(t *testing.T) {
		_, err := db.Exec("UPDATE tasks SET priority = 'high'")
		if err == nil || !strings.Contains(err.Error(), "priority must be a whole number") {
			t.Errorf("update: %v; want refused", err)
		}
	})
}

// TestRowRulesMatchMaxTimeout: the trigger's bound on timeout_ms is queue.MaxTimeout.
func TestRowRulesMatchMaxTimeout(t *testing.T) {
	stmts := contractStatements(t)
	_, path := freshQueue(t)
	db := clientDB(t, path, stmts)
	ms := queue.MaxTimeout.Milliseconds()
	if _, err := db.Exec("INSERT INTO tasks (job, timeout_ms) VALUES ('echo_test', ?)", ms); err != nil {
		t.Errorf("timeout_ms %d (MaxTimeout): %v", ms, err)
	}
	if _, err := db.Exec("INSERT INTO tasks (job, timeout_ms) VALUES ('echo_test', ?)", ms+1); err == nil {
		t.Errorf("timeout_ms %d (past MaxTimeout) was accepted", ms+1)
	}
}

// dropRowRules removes the schema's row rules, as a hand edit could: what
// the rules would have refused can then be stored.
func dropRowRules(tb testing.TB, s *queue.Store) {
	tb.Helper()
	if _, err := s.DB().Write.Exec("DROP TRIGGER tasks_insert_rules; DROP TRIGGER tasks_update_rules"); err != nil {
		tb.Fatal(err)
	}
}

// TestBadRowsFailAlone: rows the rules would refuse, stored anyway, each end
// failed at once with an error naming the problem, in the same drain as the
// good task beside them; reads of them never fail.
func TestBadRowsFailAlone(t *testing.T) {
	ctx := context.Background()
	s, _ := freshQueue(t)
	good := mustEnqueue(t, s, queue.EnqueueParams{Job: "echo_test"})
	dropRowRules(t, s)
	bad := map[string]string{ // column values → the error the task must end with
		"history = 'x'":                  "invalid row: history is not valid JSON",
		"history = '{}'":                 "invalid row: history is not a JSON array",
		"priority = 'high'":              "invalid row: priority 'high' is not a whole number",
		"priority = -1":                  "invalid row: priority -1 is negative",
		"max_attempts = 'x'":             "invalid row: max_attempts 'x' is not a whole number, 1 or more",
		"timeout_ms = 'slow'":            "invalid row: timeout_ms 'slow' is not a whole number of milliseconds",
		"timeout_ms = 0":                 "invalid row: timeout_ms 0 is not a whole number of milliseconds",
		"timeout_ms = -5":                "invalid row: timeout_ms -5 is not",
		"timeout_ms = 315360000000":      "invalid row: timeout_ms 315360000000 is not",
		"run_at = 'tomorrow'":            "invalid row: run_at 'tomorrow' is not Unix milliseconds",
		"run_at = 253402300800000":       "invalid row: run_at 253402300800000 is not Unix milliseconds",
		"created_at = 253402300800000":   "", // only shown: clamped to year 9999, runs
		"attempt = 'x'":                  "", // the claim's attempt + 1 makes it 1
		"job = x'00'":                    "invalid row: job X'00' is not a name",
		"scheduled_for = 99999999999999": "",
	}
	ids := map[int64]string{}
	for set := range bad {
		id := mustEnqueue(t, s, queue.EnqueueParams{Job: "echo_test"})
		if _, err := s.DB().Write.Exec("UPDATE tasks SET "+set+" WHERE id = ?", id); err != nil {
			t.Fatalf("%s: %v", set, err)
		}
		ids[id] = set
	}

	w := worker.New(s, jobs.NewRegistry(), worker.Options{})
	if _, err := w.Drain(ctx, worker.DrainOpts{}); err != nil {
		t.Fatalf("drain: %v", err)
	}
	if got, err := s.Get(ctx, good); err != nil || got.State != queue.Succeeded {
		t.Errorf("good task: %s, %v; want succeeded", got.State, err)
	}
	for id, set := range ids {
		got, err := s.Get(ctx, id)
		if err != nil {
			t.Errorf("%s: get: %v", set, err)
			continue
		}
		want := bad[set]
		switch {
		case want == "" && got.State != queue.Succeeded:
			t.Errorf("%s: %s %q; want succeeded", set, got.State, got.Error)
		case want != "" && (got.State != queue.Failed || !strings.HasPrefix(got.Error, want) || got.Attempt != 1):
			t.Errorf("%s: %s after %d attempts, %q; want failed after 1 with %q", set, got.State, got.Attempt, got.Error, want)
		}
		if _, err := json.Marshal(got); err != nil {
			t.Errorf("%s: task does not marshal: %v", set, err)
		}
	}

	// Every read works whatever the rows hold.
	if _, err := s.List(ctx, queue.ListParams{}); err != nil {
		t.Errorf("list: %v", err)
	}
	if _, err := s.Status(ctx); err != nil {
		t.Errorf("status: %v", err)
	}
	if _, err := s.Stats(ctx); err != nil {
		t.Errorf("stats: %v", err)
	}
	if _, err := s.Groups(ctx, ""); err != nil {
		t.Errorf("groups: %v", err)
	}
	if _, err := s.NextWakeup(ctx, nil); err != nil {
		t.Errorf("next wakeup: %v", err)
	}
}

// TestBadRowsReadAndCancel: a queued or running row holding what the rules
// refuse is read, listed and cancelled like any other.
func TestBadRowsReadAndCancel(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s := mustStore(t, clk)
	dropRowRules(t, s)
	now := clk.Now().UnixMilli()
	res, err := s.DB().Write.Exec(`INSERT INTO tasks (job, history, priority, max_attempts, timeout_ms, run_at,
		created_at, state, lease_until, worker, started_at) VALUES
		('echo_test', 'x', 'high', 'x', 'y', 'z', 99999999999999999, 'running', ?1 + 60000, 'w', ?1),
		('echo_test', '{', 1.5, 2.5, -5, 1e300, 'then', 'queued', NULL, NULL, NULL)`, now)
	if err != nil {
		t.Fatal(err)
	}
	last, _ := res.LastInsertId()
	for _, id := range []int64{last - 1, last} {
		got, err := s.Get(ctx, id)
		if err != nil || got.Invalid == "" {
			t.Errorf("get %d: %+v, %v; want the row with its problem", id, got, err)
		}
		if _, err := json.Marshal(got); err != nil {
			t.Errorf("task %d does not marshal: %v", id, err)
		}
		if _, err := s.Cancel(ctx, []int64{id}); err != nil {
			t.Errorf("cancel %d: %v", id, err)
		}
		if got, _ := s.Get(ctx, id); got.State != queue.Cancelled {
			t.Errorf("task %d is %s after cancel", id, got.State)
		}
	}
	tasks, err := s.List(ctx, queue.ListParams{})
	if err != nil || len(tasks) != 2 {
		t.Errorf("list: %d tasks, %v", len(tasks), err)
	}
	if err := s.Retry(ctx, []int64{last}); err != nil {
		t.Errorf("retry: %v", err)
	}
}

// TestOutcomeFailureIsolated: when one outcome of a batch cannot be written
// (here a foreign trigger refuses it), that task alone ends failed with the
// reason, and the other outcomes of the batch are written.
func TestOutcomeFailureIsolated(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s := mustStore(t, clk) // its writer fires triggers
	var ids []int64
	for range 3 {
		ids = append(ids, mustEnqueue(t, s, queue.EnqueueParams{Job: "echo_test"}))
	}
	if _, err := s.DB().Write.Exec(`CREATE TRIGGER refuse BEFORE UPDATE OF result ON tasks WHEN NEW.id = ` +
		`(SELECT min(id) + 1 FROM tasks) BEGIN SELECT RAISE(ABORT, 'refused by a foreign trigger'); END`); err != nil {
		t.Fatal(err)
	}
	claimed := exchange(t, s, nil, params).Claimed
	var outcomes []queue.Outcome
	for _, task := range claimed {
		outcomes = append(outcomes, queue.Outcome{ID: task.ID, Attempt: task.Attempt, Kind: queue.Succeed,
			StartedAt: clk.Now(), Result: []byte(`{}`)})
	}
	res, err := s.Exchange(ctx, outcomes, params)
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if len(res.Stale) != 0 {
		t.Errorf("stale outcomes: %v", res.Stale)
	}
	for i, id := range ids {
		got, err := s.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			if got.State != queue.Failed || !strings.Contains(got.Error, "invalid row: its outcome could not be written") ||
				!strings.Contains(got.Error, "refused by a foreign trigger") {
				t.Errorf("task %d: %s %q; want failed naming the refusal", id, got.State, got.Error)
			}
			continue
		}
		if got.State != queue.Succeeded {
			t.Errorf("task %d: %s; want succeeded", id, got.State)
		}
	}
}

// TestReadTimesClampToYear9999: a time past year 9999 reads as the last
// millisecond of that year, which JSON can write.
func TestReadTimesClampToYear9999(t *testing.T) {
	ctx := context.Background()
	s := mustStore(t, newClock())
	id := mustEnqueue(t, s, queue.EnqueueParams{Job: "echo_test"})
	dropRowRules(t, s)
	if _, err := s.DB().Write.Exec("UPDATE tasks SET created_at = 9223372036854775807 WHERE id = ?", id); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC); !got.CreatedAt.Equal(want) {
		t.Errorf("created_at reads %v; want %v", got.CreatedAt, want)
	}
}

// TestNextWakeupWithBadTimes: a run_at that is not a time is due at once
// (the claim takes it); a lease that is not a time never wakes a run loop,
// which would otherwise spin on it.
func TestNextWakeupWithBadTimes(t *testing.T) {
	ctx := context.Background()
	s := mustStore(t, newClock())
	dropRowRules(t, s)
	id := mustEnqueue(t, s, queue.EnqueueParams{Job: "echo_test"})
	if _, err := s.DB().Write.Exec("UPDATE tasks SET state = 'running', worker = 'w', lease_until = 'soon' WHERE id = ?", id); err != nil {
		t.Fatal(err)
	}
	if got, err := s.NextWakeup(ctx, nil); err != nil || !got.IsZero() {
		t.Errorf("with a text lease: next wakeup %v, %v; want none", got, err)
	}
	id = mustEnqueue(t, s, queue.EnqueueParams{Job: "echo_test", RunAt: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)})
	if _, err := s.DB().Write.Exec("UPDATE tasks SET run_at = 'tomorrow' WHERE id = ?", id); err != nil {
		t.Fatal(err)
	}
	if got, err := s.NextWakeup(ctx, nil); err != nil || got.IsZero() || got.Year() != 1970 {
		t.Errorf("with a text run_at: next wakeup %v, %v; want at once (1970)", got, err)
	}
}
