package pgqueue

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/queue"
)

// listQuery builds List's statement: the filters of p, newest first.
func listQuery(p queue.ListParams) (string, []any, error) {
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	var states []string
	for _, st := range p.States {
		if _, err := queue.ParseState(string(st)); err != nil {
			return "", nil, err
		}
		if !slices.Contains(states, string(st)) {
			states = append(states, string(st))
		}
	}
	if len(states) > 0 {
		where = append(where, "state = ANY("+arg(states)+"::text[])")
	}
	for _, f := range []struct{ col, v string }{{"queue", p.Queue}, {"job", p.Job}, {"task_group", p.Group}} {
		if f.v != "" {
			where = append(where, f.col+" = "+arg(f.v)+"::text")
		}
	}
	if !p.Since.IsZero() {
		where = append(where, "coalesce(finished_at, started_at, created_at) >= "+arg(p.Since.UnixMilli())+"::bigint")
	}
	q := "SELECT " + listColumns + " FROM tasks" + whereSQL(where) + " ORDER BY id DESC"
	if p.Limit > 0 {
		q += " LIMIT " + arg(p.Limit)
	}
	return q, args, nil
}

// whereSQL returns a WHERE clause joining conds with AND, or nothing.
func whereSQL(conds []string) string {
	if len(conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(conds, " AND ")
}

// List returns the tasks p selects, newest first, without their payload,
// result and history (Get has them).
func (s *Store) List(ctx context.Context, p queue.ListParams) ([]queue.Task, error) {
	q, args, err := listQuery(p)
	if err != nil {
		return nil, wrap("list tasks", err)
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, wrap("list tasks", err)
	}
	tasks, err := collectTasks(rows, true)
	if err != nil {
		return nil, wrap("list tasks", err)
	}
	return tasks, nil
}

// Groups summarizes every group, by name; with a name, only that group
// (an unknown group comes back with zero counts).
func (s *Store) Groups(ctx context.Context, name string) ([]queue.GroupSummary, error) {
	rows, err := s.pool.Query(ctx, `SELECT task_group, state, count(*) FROM tasks
WHERE task_group IS NOT NULL AND ($1::text = '' OR task_group = $1::text)
GROUP BY task_group, state ORDER BY task_group`, name)
	if err != nil {
		return nil, wrap("summarize groups", err)
	}
	var (
		out   []queue.GroupSummary
		g, st string
		n     int
	)
	_, err = pgx.ForEachRow(rows, []any{&g, &st, &n}, func() error {
		if len(out) == 0 || out[len(out)-1].Group != g {
			out = append(out, queue.GroupSummary{Group: g, Counts: zeroCounts()})
		}
		out[len(out)-1].Counts[queue.State(st)] += n
		out[len(out)-1].Total += n
		return nil
	})
	if err == nil && name != "" && len(out) == 0 {
		out = append(out, queue.GroupSummary{Group: name, Counts: zeroCounts()})
	}
	return out, wrap("summarize groups", err)
}

// remainingSQL counts a drain's remaining tasks in one snapshot: $1 is now,
// $2 the worker, and %s filters by queue ($3).
var remainingSQL = `SELECT (SELECT count(*) FROM tasks WHERE state = 'queued' AND run_at <= ` + nowParam(1) + `%s)
     + (SELECT count(*) FROM tasks WHERE state = 'running' AND worker = $2::text)`

// CountRemaining returns how many tasks a drain by worker still has before
// it: queued tasks due now in the given queues (all queues when empty), plus
// the tasks worker holds (claimed, not yet written back), read in one
// snapshot so a claim moving tasks from one to the other is never half seen.
func (s *Store) CountRemaining(ctx context.Context, queues []string, worker string) (int, error) {
	args := []any{s.nowArg(), worker}
	filter := ""
	if len(queues) > 0 {
		filter = " AND queue = ANY($3::text[])"
		args = append(args, queues)
	}
	var n int
	err := s.pool.QueryRow(ctx, fmt.Sprintf(remainingSQL, filter), args...).Scan(&n)
	return n, wrap("count remaining tasks", err)
}
