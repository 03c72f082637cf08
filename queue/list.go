package queue

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ParseState returns the State named s, or an error wrapping ErrInvalid that
// lists the states there are.
func ParseState(s string) (State, error) {
	for _, st := range States {
		if string(st) == s {
			return st, nil
		}
	}
	names := make([]string, len(States))
	for i, st := range States {
		names[i] = string(st)
	}
	return "", fmt.Errorf("%w: unknown state %q (want one of %s)", ErrInvalid, s, strings.Join(names, ", "))
}

// ListParams selects tasks for List. Zero fields select everything.
type ListParams struct {
	States []State
	Queue  string
	Job    string
	Group  string
	// Since keeps tasks touched at or after it: finished, else started, else created.
	Since time.Time
	// Limit caps how many tasks come back, newest first; 0 means no cap.
	Limit int
}

// listColumns are taskColumns without the payload, result and history,
// which a listing does not show and which can be large.
var listColumns = strings.NewReplacer(
	"payload,", "'' AS payload,", "result,", "NULL AS result,", "history", "'[]' AS history",
).Replace(taskColumns)

// listQuery builds List's statement. With a limit, SQLite walks the table
// newest first and stops once it has enough: quick for the states a listing
// usually asks for (queued, running, recent failures), slower for a state
// that is rare in a long history. Reading a state through its index instead
// sorts every task of that state, far slower for a common one
// (BENCHMARKS.md); "state IN (...)" keeps the planner off the indexes.
func listQuery(p ListParams) (string, []any, error) {
	var (
		where []string
		args  []any
	)
	if states := uniqueStates(p.States); len(states) > 0 {
		ph := make([]string, len(states))
		for i, st := range states {
			if _, err := ParseState(string(st)); err != nil {
				return "", nil, err
			}
			ph[i] = "?"
			args = append(args, string(st))
		}
		where = append(where, "state IN ("+strings.Join(ph, ", ")+")")
	}
	for _, f := range []struct{ col, v string }{{"queue", p.Queue}, {"job", p.Job}, {"task_group", p.Group}} {
		if f.v != "" {
			where = append(where, f.col+" = ?")
			args = append(args, f.v)
		}
	}
	if !p.Since.IsZero() {
		where = append(where, "coalesce(finished_at, started_at, created_at) >= ?")
		args = append(args, p.Since.UnixMilli())
	}
	q := "SELECT " + listColumns + " FROM tasks" + whereSQL(where) + " ORDER BY id DESC"
	if p.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, p.Limit)
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

// uniqueStates returns states without repeats, in their first order.
func uniqueStates(states []State) []State {
	var out []State
	for _, st := range states {
		if !slices.Contains(out, st) {
			out = append(out, st)
		}
	}
	return out
}

// List returns the tasks p selects, newest first, without their payload,
// result and history (Get has them).
func (s *Store) List(ctx context.Context, p ListParams) ([]Task, error) {
	q, args, err := listQuery(p)
	if err != nil {
		return nil, wrap("list tasks", err)
	}
	var tasks []Task
	err = s.readTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			t, err := scanTask(rows)
			if err != nil {
				return err
			}
			t.Payload = nil
			tasks = append(tasks, t)
		}
		return rows.Err()
	})
	return tasks, wrap("list tasks", err)
}

// GroupSummary counts the tasks of one group by state.
type GroupSummary struct {
	Group  string
	Total  int
	Counts map[State]int // every state is present
}

// Groups summarizes every group, by name; with a name, only that group
// (an unknown group comes back with zero counts).
func (s *Store) Groups(ctx context.Context, name string) ([]GroupSummary, error) {
	q := "SELECT task_group, state, count(*) FROM tasks WHERE task_group IS NOT NULL"
	var args []any
	if name != "" {
		q += " AND task_group = ?"
		args = append(args, name)
	}
	q += " GROUP BY task_group, state ORDER BY task_group"
	var out []GroupSummary
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				g, st string
				n     int
			)
			if err := rows.Scan(&g, &st, &n); err != nil {
				return err
			}
			if len(out) == 0 || out[len(out)-1].Group != g {
				out = append(out, GroupSummary{Group: g, Counts: zeroCounts()})
			}
			out[len(out)-1].Counts[State(st)] += n
			out[len(out)-1].Total += n
		}
		return rows.Err()
	})
	if err == nil && name != "" && len(out) == 0 {
		out = append(out, GroupSummary{Group: name, Counts: zeroCounts()})
	}
	return out, wrap("summarize groups", err)
}

func zeroCounts() map[State]int {
	m := make(map[State]int, len(States))
	for _, st := range States {
		m[st] = 0
	}
	return m
}

// remainingSQL counts a drain's remaining tasks, each part on its index:
// ?1 is now, ?2 the worker, and %s filters by queue (?3).
const remainingSQL = `SELECT (SELECT count(*) FROM tasks WHERE state = 'queued' AND run_at <= ?1%s)
     + (SELECT count(*) FROM tasks WHERE state = 'running' AND worker = ?2)`

// remainingInQueues is remainingSQL's filter by the queues in ?3 (JSON).
const remainingInQueues = " AND queue IN (SELECT value FROM json_each(?3))"

// CountRemaining returns how many tasks a drain by worker still has before
// it: queued tasks due now in the given queues (all queues when empty), plus
// the tasks worker holds (claimed, not yet written back), read in one
// snapshot so a claim moving tasks from one to the other is never half seen.
// Progress reports use it as "remaining".
func (s *Store) CountRemaining(ctx context.Context, queues []string, worker string) (int, error) {
	args := []any{s.now().UnixMilli(), worker}
	filter := ""
	if len(queues) > 0 {
		b, _ := json.Marshal(queues)
		filter = remainingInQueues
		args = append(args, string(b))
	}
	var n int
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, fmt.Sprintf(remainingSQL, filter), args...).Scan(&n)
	})
	return n, wrap("count remaining tasks", err)
}
