package pgqueue_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluicehq/sluice/queue"
)

// TestFollowUpsPostgresCannotRead: a follow-up spec that the json column
// takes but PostgreSQL cannot read as text (the escape \u0000, a lone
// surrogate, a number past numeric's range in a hook's payload) is refused
// at enqueue, by Sluice and by any other program (migration 0007), so no
// row can fail the statements that read follow-ups. The reviewer's scenario
// then leaves the queue working: the worker holding a task with follow-ups
// is judged dead, another worker takes its task back (the hook enqueued by
// the recovery statement) and claims the rest, and unregisters.
func TestFollowUpsPostgresCannotRead(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s := mustStore(t, clk)

	_, err := s.Enqueue(ctx, queue.EnqueueParams{Job: "a",
		Then: []queue.FollowUp{{Job: "b", When: queue.WhenDone, Payload: []byte(`{"s":"x\u0000y"}`)}}})
	if !errors.Is(err, queue.ErrInvalid) {
		t.Fatalf("enqueue with \\u0000 in a follow-up: %v; want ErrInvalid", err)
	}

	bad := []struct{ name, spec, code string }{
		{"nul", `[{"job":"b","when":"done","payload":{"s":"x\u0000y"}}]`, "22P05"},
		{"nul in a key", `[{"job":"b","payload":{"\u0000":1}}]`, "22P05"},
		{"nested", `[{"job":"b","then":[{"job":"c","queue":"\u0000"}]}]`, "22P05"},
		{"lone surrogate", `[{"job":"b","payload":{"s":"\ud800"}}]`, "22P02"},
		{"number past numeric", `[{"job":"b","when":"done","payload":{"n":1e1000000}}]`, "22003"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.Pool().Exec(ctx, pgContract(t)["followups"], "a", nil, nil, nil, nil, nil, nil, nil, c.spec)
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != c.code {
				t.Errorf("contract insert of %s: %v; want SQLSTATE %s", c.spec, err, c.code)
			}
		})
	}

	a := mustEnqueue(t, s, queue.EnqueueParams{Job: "a", MaxAttempts: 1,
		Then: []queue.FollowUp{{Job: "hook", When: queue.WhenDone, Payload: []byte(`{"s":"a\\u0000 as text"}`)}}})
	other := mustEnqueue(t, s, queue.EnqueueParams{Job: "other"})
	if _, err := s.Pool().Exec(ctx, "UPDATE tasks SET follow_ups = $1 WHERE id = $2", bad[0].spec, a); err == nil {
		t.Fatal("an update writing \\u0000 into follow_ups was accepted")
	}

	claim := func(worker string) queue.ClaimParams {
		return queue.ClaimParams{Worker: worker, Limit: 5, Starts: 5, DefaultTimeout: time.Minute, DefaultMaxAttempts: 1,
			LeaseMargin: time.Second, Registered: true}
	}
	register := func(id string) {
		if err := s.Register(ctx, queue.WorkerInfo{ID: id, Host: "h", Command: "drain", StaleAfter: time.Minute}); err != nil {
			t.Fatal(err)
		}
	}
	register("w1")
	p := claim("w1")
	p.Limit = 1
	if got := ids(exchange(t, s, nil, p).Claimed); !slices.Equal(got, []int64{a}) {
		t.Fatalf("w1 claimed %v; want [%d]", got, a)
	}
	clk.Advance(2 * time.Minute) // w1 is stale
	register("w2")
	var claimed []queue.Task
	for range 3 { // the first exchange takes a back, whose hook a later one claims
		claimed = append(claimed, exchange(t, s, nil, claim("w2")).Claimed...)
	}
	jobs := map[string]int64{}
	for _, task := range claimed {
		jobs[task.Job] = task.ID
	}
	if len(claimed) != 2 || jobs["other"] != other || jobs["hook"] == 0 {
		t.Errorf("w2 claimed %+v; want other (%d) and a's hook", claimed, other)
	}
	if got, err := s.Get(ctx, a); err != nil || got.State != queue.Failed {
		t.Errorf("task a = %s, %v; want failed (its worker died)", got.State, err)
	}
	if hook, err := s.Get(ctx, jobs["hook"]); err != nil || !strings.Contains(string(hook.Payload), `"a\\u0000 as text"`) {
		t.Errorf("hook payload = %s, %v; want the escaped backslash kept", hook.Payload, err)
	}
	if n, err := s.Unregister(ctx, "w2", 1); err != nil || n != 2 {
		t.Errorf("w2 unregisters: %d tasks back, %v; want 2, nil", n, err)
	}
}
