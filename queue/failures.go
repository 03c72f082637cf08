package queue

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// firstLineSQL is the first line of a task's error, the key failures are
// grouped by (later lines are often stack traces or ids).
const firstLineSQL = `substr(error, 1, instr(error || char(10), char(10)) - 1)`

// FailureParams selects failed tasks for Failures. Zero fields select everything.
type FailureParams struct {
	Job, Queue string
	// Text keeps tasks whose error contains it, ignoring ASCII case.
	Text string
	// FirstLine keeps tasks whose error's first line is exactly it (a FailureGroup's Error).
	FirstLine string
	// Since keeps tasks that failed at or after it.
	Since time.Time
	// Before continues a listing after its last task (Page.Next); zero starts at the newest.
	Before Cursor
	// Limit caps the tasks returned; 0 means DefaultPageSize.
	Limit int
	// Scan caps the failures a filtered page reads (see Page.Searched); 0 means FailureScan.
	Scan int
}

// DefaultPageSize is how many tasks a page holds unless told otherwise.
const DefaultPageSize = 50

// Cursor is a position in a keyset listing: the sort key and id of the last
// task shown. Key is the finish time (Unix ms) for finished tasks, the lease
// expiry for running ones and the due time for queued ones, whose Priority
// comes first.
type Cursor struct {
	Priority int
	Key      int64
	ID       int64
}

// IsZero reports whether c is the start of a listing.
func (c Cursor) IsZero() bool { return c == Cursor{} }

// Page is one page of a keyset listing.
type Page struct {
	Tasks []Task // without payload, result and history
	// Next continues after the last task; zero when there are no more.
	Next Cursor
	// Searched is set when a filtered listing stopped at its scan cap
	// (FailureParams.Scan) of failures: Next then continues the search after the last one read,
	// and the page may hold fewer tasks than asked (even none).
	Searched int
}

// FailureScan is how many failures one page of a filtered Failures reads
// at most. The filters (job, queue, text) apply to rows, not to an index,
// so a rare match would otherwise read every failure in the window.
const FailureScan = 2000

// scanBoundSQL finds the FailureScan-th failure from the cursor (?1, ?2)
// back to ?3, in tasks_state alone (a covering walk).
const scanBoundSQL = `SELECT finished_at, id FROM tasks
	WHERE state = 'failed' AND finished_at <= ?1 AND (finished_at < ?1 OR id < ?2) AND finished_at >= ?3
	ORDER BY finished_at DESC, id DESC LIMIT 1 OFFSET ?4`

// failuresPageSQL lists failed tasks newest first through tasks_state: ?1/?2 are
// the cursor (finish time and id), ?3 the earliest finish time; the filters
// then apply to the rows the index walk reaches.
const failuresPageSQL = `SELECT %s FROM tasks
	WHERE state = 'failed' AND finished_at <= ?1 AND (finished_at < ?1 OR id < ?2) AND finished_at >= ?3%s
	ORDER BY finished_at DESC, id DESC LIMIT ?4`

// failureFilters returns the SQL and arguments of p's filters, numbered from ?5.
func failureFilters(p FailureParams) (string, []any) {
	var (
		sqlText string
		args    []any
	)
	add := func(cond string, v any) {
		args = append(args, v)
		sqlText += " AND " + cond + " ?" + strconv.Itoa(4+len(args))
	}
	if p.Job != "" {
		add("job =", p.Job)
	}
	if p.Queue != "" {
		add("queue =", p.Queue)
	}
	if p.Text != "" {
		// LIKE ignores ASCII case without copying the error the way lower() does.
		args = append(args, "%"+likeEscaper.Replace(p.Text)+"%")
		sqlText += " AND error LIKE ?" + strconv.Itoa(4+len(args)) + ` ESCAPE '\'`
	}
	if p.FirstLine != "" {
		add(firstLineSQL+" =", p.FirstLine)
	}
	return sqlText, args
}

// likeEscaper makes a text match itself in a LIKE pattern.
var likeEscaper = strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`)

// Failures returns a page of failed tasks, newest failure first, with their
// latest error and duration (no payload, result or history).
func (s *Store) Failures(ctx context.Context, p FailureParams) (Page, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = DefaultPageSize
	}
	before, id := p.Before.Key, p.Before.ID
	if p.Before.IsZero() {
		before, id = math.MaxInt64, math.MaxInt64
	}
	filters, fargs := failureFilters(p)
	since := ms(p.Since)
	scan := p.Scan
	if scan <= 0 {
		scan = FailureScan
	}
	var page Page
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		var bound Cursor // the last failure this page may read; zero: no bound
		if filters != "" {
			err := tx.QueryRowContext(ctx, scanBoundSQL, before, id, since, scan-1).Scan(&bound.Key, &bound.ID)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		q := fmt.Sprintf(failuresPageSQL, listColumns, filters)
		args := append([]any{before, id, since, limit + 1}, fargs...)
		if !bound.IsZero() {
			args[2] = bound.Key
			q = fmt.Sprintf(failuresPageSQL, listColumns, filters+
				fmt.Sprintf(" AND (finished_at > ?%d OR id >= ?%d)", len(args)+1, len(args)+2))
			args = append(args, bound.Key, bound.ID)
		}
		var err error
		page, err = readPage(ctx, tx, q, args, limit, func(t Task) Cursor {
			return Cursor{Key: ms(t.FinishedAt), ID: t.ID}
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
func (s *Store) FailedIDs(ctx context.Context, p FailureParams) ([]int64, error) {
	filters, fargs := failureFilters(p)
	q := fmt.Sprintf(failuresPageSQL, "id", filters)
	args := append([]any{int64(math.MaxInt64), int64(math.MaxInt64), ms(p.Since), -1}, fargs...)
	ids, err := s.readIDs(ctx, q, args...)
	return ids, wrap("list failed tasks", err)
}

// FailureGroup is the failed tasks that share the first line of their error.
type FailureGroup struct {
	Error string // the first line
	Count int
	Jobs  int       // how many different jobs
	Last  time.Time // the latest failure
}

// DefaultGroupSample is how many of the latest failures FailureGroups reads
// unless told: enough to show what is failing now, few enough to read in a
// few milliseconds however many failures the history holds.
const DefaultGroupSample = 1000

// failureGroupsSQL groups the latest ?2 failures since ?1 by their error's
// first line; the inner query walks tasks_state newest first. The groups
// are sorted in Go: an ORDER BY on the count would make SQLite sort them
// anyway, after grouping.
const failureGroupsSQL = `SELECT ` + firstLineSQL + ` AS line, count(*), count(DISTINCT job), max(finished_at)
	FROM (SELECT error, job, finished_at FROM tasks WHERE state = 'failed' AND finished_at >= ?1
	      ORDER BY finished_at DESC LIMIT ?2)
	GROUP BY line`

// FailureGroups groups the latest sample (0: DefaultGroupSample) tasks that
// failed since since by the first line of their error, largest group first.
// It returns how many failures it read: when that is sample, older
// failures were left out and the counts are of the latest ones only.
func (s *Store) FailureGroups(ctx context.Context, since time.Time, sample int) ([]FailureGroup, int, error) {
	if sample <= 0 {
		sample = DefaultGroupSample
	}
	var (
		out  []FailureGroup
		read int
	)
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		return eachRow(ctx, tx, failureGroupsSQL, []any{ms(since), sample}, func(rows *sql.Rows) error {
			var (
				g    FailureGroup
				last int64
			)
			if err := rows.Scan(&g.Error, &g.Count, &g.Jobs, &last); err != nil {
				return err
			}
			g.Last = fromMS(last)
			read += g.Count
			out = append(out, g)
			return nil
		})
	})
	slices.SortFunc(out, func(a, b FailureGroup) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return strings.Compare(a.Error, b.Error)
	})
	return out, read, wrap("group failures", err)
}

// readPage reads up to limit tasks of a query asked for limit+1 rows; the
// extra row, when present, says there is a next page, which starts after the
// last task kept (its cursor from key).
func readPage(ctx context.Context, tx *sql.Tx, q string, args []any, limit int, key func(Task) Cursor) (Page, error) {
	var page Page
	err := eachRow(ctx, tx, q, args, func(rows *sql.Rows) error {
		t, err := scanTask(rows)
		if err != nil {
			return err
		}
		t.Payload = nil
		page.Tasks = append(page.Tasks, t)
		return nil
	})
	if err != nil {
		return Page{}, err
	}
	if len(page.Tasks) > limit {
		page.Tasks = page.Tasks[:limit]
		page.Next = key(page.Tasks[limit-1])
	}
	return page, nil
}
