package pgqueue

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/queue"
)

// firstLineSQL is the first line of a task's error, the key failures are
// grouped by (later lines are often stack traces or ids).
const firstLineSQL = `split_part(coalesce(error, ''), E'\n', 1)`

// scanBoundSQL finds the Scan-th failure from the cursor ($1, $2) back to
// $3, walking tasks_state newest first.
const scanBoundSQL = `SELECT finished_at, id FROM tasks
	WHERE state = 'failed' AND finished_at <= $1 AND (finished_at < $1 OR id < $2) AND finished_at >= $3
	ORDER BY finished_at DESC, id DESC LIMIT 1 OFFSET $4`

// failuresPageSQL lists failed tasks newest first through tasks_state: $1/$2
// are the cursor (finish time and id), $3 the earliest finish time, $4 the
// row count (NULL: all); the filters then apply to the rows the index walk
// reaches.
const failuresPageSQL = `SELECT %s FROM tasks
	WHERE state = 'failed' AND finished_at <= $1 AND (finished_at < $1 OR id < $2) AND finished_at >= $3%s
	ORDER BY finished_at DESC, id DESC LIMIT $4`

// failureFilters returns the SQL and arguments of p's filters, numbered from $5.
func failureFilters(p queue.FailureParams) (string, []any) {
	var (
		sqlText string
		args    []any
	)
	add := func(cond string, v any) {
		args = append(args, v)
		sqlText += fmt.Sprintf(" AND "+cond, 4+len(args))
	}
	if p.Job != "" {
		add("job = $%d::text", p.Job)
	}
	if p.Queue != "" {
		add("queue = $%d::text", p.Queue)
	}
	if p.Text != "" {
		add(`error ILIKE $%d::text ESCAPE '\'`, "%"+likeEscaper.Replace(p.Text)+"%")
	}
	if p.FirstLine != "" {
		add(firstLineSQL+" = $%d::text", p.FirstLine)
	}
	return sqlText, args
}

// likeEscaper makes a text match itself in a LIKE pattern.
var likeEscaper = strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`)

// Failures returns a page of failed tasks, newest failure first, with their
// latest error and duration (no payload, result or history), as
// queue.Store.Failures: a filtered page reads at most p.Scan (0:
// queue.FailureScan) failures and says so in Page.Searched. Text ignores
// case as ILIKE does, by the database's locale (SQLite: ASCII case only).
func (s *Store) Failures(ctx context.Context, p queue.FailureParams) (queue.Page, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = queue.DefaultPageSize
	}
	before, id := p.Before.Key, p.Before.ID
	if p.Before.IsZero() {
		before, id = math.MaxInt64, math.MaxInt64
	}
	filters, fargs := failureFilters(p)
	since := ms(p.Since)
	scan := p.Scan
	if scan <= 0 {
		scan = queue.FailureScan
	}
	var page queue.Page
	err := pgx.BeginTxFunc(ctx, s.pool, snapshot, func(tx pgx.Tx) error {
		var bound queue.Cursor // the last failure this page may read; zero: no bound
		if filters != "" {
			err := tx.QueryRow(ctx, scanBoundSQL, before, id, since, scan-1).Scan(&bound.Key, &bound.ID)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
		}
		q := fmt.Sprintf(failuresPageSQL, listColumns, filters)
		args := append([]any{before, id, since, limit + 1}, fargs...)
		if !bound.IsZero() {
			args[2] = bound.Key
			q = fmt.Sprintf(failuresPageSQL, listColumns, filters+
				fmt.Sprintf(" AND (finished_at > $%d OR id >= $%d)", len(args)+1, len(args)+2))
			args = append(args, bound.Key, bound.ID)
		}
		var err error
		page, err = readPage(ctx, tx, q, args, limit, func(t queue.Task) queue.Cursor {
			return queue.Cursor{Key: ms(t.FinishedAt), ID: t.ID}
		})
		if err == nil && !bound.IsZero() && page.Next.IsZero() {
			page.Next, page.Searched = bound, scan
		}
		return err
	})
	return page, wrap("list failures", err)
}

// FailedIDs returns the ids of every failed task p selects (its Before and
// Limit aside), for retrying a whole group or filter at once.
func (s *Store) FailedIDs(ctx context.Context, p queue.FailureParams) ([]int64, error) {
	filters, fargs := failureFilters(p)
	q := fmt.Sprintf(failuresPageSQL, "id", filters)
	args := append([]any{int64(math.MaxInt64), int64(math.MaxInt64), ms(p.Since), nil}, fargs...)
	ids, err := s.readIDs(ctx, q, args...)
	return ids, wrap("list failed tasks", err)
}

// failureGroupsSQL groups the latest $2 failures since $1 by their error's
// first line; the inner query walks tasks_state newest first.
const failureGroupsSQL = `SELECT ` + firstLineSQL + ` AS line, count(*), count(DISTINCT job), max(finished_at)
	FROM (SELECT error, job, finished_at FROM tasks WHERE state = 'failed' AND finished_at >= $1
	      ORDER BY finished_at DESC LIMIT $2) latest
	GROUP BY line`

// FailureGroups groups the latest sample (0: queue.DefaultGroupSample)
// tasks that failed since since by the first line of their error, largest
// group first (then by error). It returns how many failures it read: when
// that is sample, older failures were left out and the counts are of the
// latest ones only.
func (s *Store) FailureGroups(ctx context.Context, since time.Time, sample int) ([]queue.FailureGroup, int, error) {
	if sample <= 0 {
		sample = queue.DefaultGroupSample
	}
	var (
		out  []queue.FailureGroup
		read int
		g    queue.FailureGroup
		last int64
	)
	rows, err := s.pool.Query(ctx, failureGroupsSQL, ms(since), sample)
	if err == nil {
		_, err = pgx.ForEachRow(rows, []any{&g.Error, &g.Count, &g.Jobs, &last}, func() error {
			g.Last = fromMS(last)
			read += g.Count
			out = append(out, g)
			return nil
		})
	}
	if err != nil {
		return nil, 0, wrap("group failures", err)
	}
	slices.SortFunc(out, func(a, b queue.FailureGroup) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return strings.Compare(a.Error, b.Error)
	})
	return out, read, nil
}

// readPage reads up to limit tasks of a query asked for limit+1 rows; the
// extra row, when present, says there is a next page, which starts after the
// last task kept (its cursor from key).
func readPage(ctx context.Context, tx querier, q string, args []any, limit int, key func(queue.Task) queue.Cursor) (queue.Page, error) {
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return queue.Page{}, err
	}
	tasks, err := collectTasks(rows, true)
	if err != nil {
		return queue.Page{}, err
	}
	page := queue.Page{Tasks: tasks}
	if len(page.Tasks) > limit {
		page.Tasks = page.Tasks[:limit]
		page.Next = key(page.Tasks[limit-1])
	}
	return page, nil
}
