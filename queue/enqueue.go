package queue

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf16"

	"github.com/sluicehq/sluice/sqlitewal"
)

// DefaultQueue is the queue of a task enqueued without one.
const DefaultQueue = "default"

// ErrInvalid is wrapped by every error about bad enqueue parameters.
var ErrInvalid = errors.New("invalid task")

// MaxPayload caps a task's payload (256 KiB, as Amazon SQS long did).
// A claim holds every claimed payload in SQLite's heap at once, which the
// driver caps at 256 MiB per connection: up to worker.DefaultPrefetch plus
// the workers' tasks, with SQLite's own copies, must fit (claims of ~110
// one-MiB payloads ran out of memory). Large data belongs elsewhere (a file,
// a table), with a reference to it in the payload.
const MaxPayload = 256 << 10

// EnqueueParams describes a task to add. Only Job is required.
type EnqueueParams struct {
	Job         string
	Payload     json.RawMessage // JSON; empty means {}
	Queue       string          // default DefaultQueue
	Priority    int             // >= 0; higher runs first
	RunAt       time.Time       // zero means now
	MaxAttempts int             // 0 means the worker's SLUICE_MAX_ATTEMPTS
	Timeout     time.Duration   // 0 means the worker's SLUICE_TIMEOUT
	Group       string
	// UniqueKey, when set, makes the task unique while it is queued or
	// running: enqueueing another task with the same key then adds nothing
	// and returns the existing task's id. Once the task has finished, the key
	// is free again. The database enforces this (a partial unique index), so
	// it holds across goroutines and processes.
	UniqueKey string
	// Then lists follow-up tasks: a chain's next step, enqueued only if
	// this task succeeds, or a hook, enqueued whatever its final outcome.
	// The worker enqueues them in the transaction that records the outcome
	// (see FollowUp), so they are added exactly once, even across crashes.
	Then []FollowUp

	followUps any // Then as JSON text, or nil; set by Validate
}

// Values of FollowUp.When.
const (
	WhenSuccess = "success" // after the task succeeded (a chain's next step)
	WhenDone    = "done"    // after any final outcome: succeeded, failed for good, cancelled by its worker (a hook)
)

// FollowUp describes a task to enqueue when another finishes. It is stored
// as JSON in the finished task's follow_ups column (docs/sql-contract.md),
// with the keys named in its tags; timeout_ms is Timeout in milliseconds.
//
// A WhenDone follow-up's payload (an object; others become {}) gets the key
// "task": {"id", "job", "state", "result", "error", "group"} of the task that
// finished; result is JSON when the result was, text otherwise.
type FollowUp struct {
	Job         string          `json:"job"`
	Payload     json.RawMessage `json:"payload,omitempty"` // empty means {}
	Queue       string          `json:"queue,omitempty"`   // empty means DefaultQueue
	Priority    int             `json:"priority,omitempty"`
	MaxAttempts int             `json:"max_attempts,omitempty"`
	Timeout     time.Duration   `json:"-"`
	Group       string          `json:"group,omitempty"`
	When        string          `json:"when,omitempty"` // WhenSuccess (the default) or WhenDone
	// Then lists the follow-ups of this follow-up: a chain is a task whose
	// Then holds the second step, whose Then holds the third, ...
	Then []FollowUp `json:"then,omitempty"`
}

// MarshalJSON writes f as the follow_ups column holds it.
func (f FollowUp) MarshalJSON() ([]byte, error) {
	type plain FollowUp
	return json.Marshal(struct {
		plain
		TimeoutMS int64 `json:"timeout_ms,omitempty"`
	}{plain(f), f.Timeout.Milliseconds()})
}

// validateFollowUps checks fs (and theirs), naming the first bad one.
func validateFollowUps(fs []FollowUp, path string) []string {
	var problems []string
	for i, f := range fs {
		at := fmt.Sprintf("%sthen[%d]", path, i)
		p := EnqueueParams{Job: f.Job, Payload: f.Payload, Queue: f.Queue, Priority: f.Priority,
			MaxAttempts: f.MaxAttempts, Timeout: f.Timeout}
		if err := p.Validate(); err != nil {
			problems = append(problems, at+": "+strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": "))
		}
		if f.When != "" && f.When != WhenSuccess && f.When != WhenDone {
			problems = append(problems, fmt.Sprintf("%s: when %q is neither %q nor %q", at, f.When, WhenSuccess, WhenDone))
		}
		if f.When == WhenDone && len(f.Payload) > 0 && !isJSONObject(f.Payload) {
			problems = append(problems, at+": a hook's payload must be a JSON object (it gets the finished task under \"task\")")
		}
		problems = append(problems, unreadableText(f, at)...)
		problems = append(problems, validateFollowUps(f.Then, at+".")...)
	}
	return problems
}

// unreadableText names the text in f that PostgreSQL keeps in its json
// follow_ups column but cannot read back as text: a NUL character (the
// escape \u0000, or a NUL in a name, which the column's JSON holds as that
// escape) and a lone UTF-16 surrogate escape (\ud800). Every statement that
// reads the spec would fail, so both stores refuse it at enqueue.
func unreadableText(f FollowUp, at string) []string {
	var problems []string
	for _, field := range []struct{ name, v string }{{"job", f.Job}, {"queue", f.Queue}, {"group", f.Group}} {
		if strings.ContainsRune(field.v, 0) {
			problems = append(problems, fmt.Sprintf("%s: %s holds a NUL character, which PostgreSQL cannot store as text", at, field.name))
		}
	}
	if esc := badEscape(f.Payload); esc != "" {
		what := "a lone UTF-16 surrogate"
		if esc == `\u0000` {
			what = "a NUL character"
		}
		problems = append(problems, fmt.Sprintf("%s: payload holds the escape %s (%s), which PostgreSQL cannot read back from a follow-up",
			at, esc, what))
	}
	return problems
}

// badEscape returns the first \u escape in the JSON text b that is \u0000
// or a surrogate not in a high-low pair, or "". b is valid JSON, so every
// backslash is inside a string and starts an escape.
func badEscape(b []byte) string {
	unit := func(i int) (rune, bool) { // the code unit of a \uXXXX at b[i:]
		if i+6 > len(b) || b[i] != '\\' || b[i+1] != 'u' {
			return 0, false
		}
		v, err := strconv.ParseUint(string(b[i+2:i+6]), 16, 16)
		return rune(v), err == nil
	}
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		r, ok := unit(i)
		if !ok {
			i++ // a one-letter escape: skip the escaped character
			continue
		}
		switch {
		case r == 0:
			return string(b[i : i+6])
		case utf16.IsSurrogate(r) && r < 0xdc00:
			if low, ok := unit(i + 6); ok && low >= 0xdc00 && low <= 0xdfff {
				i += 6 // the pair's low half
			} else {
				return string(b[i : i+6])
			}
		case utf16.IsSurrogate(r):
			return string(b[i : i+6])
		}
		i += 5
	}
	return ""
}

func isJSONObject(b json.RawMessage) bool {
	var m map[string]json.RawMessage
	return json.Unmarshal(b, &m) == nil && m != nil
}

// Validate checks p and fills in defaults (an empty payload becomes {}, an
// empty queue DefaultQueue), returning ErrInvalid with every problem. Both
// stores call it, so they refuse the same input with the same words.
func (p *EnqueueParams) Validate() error {
	var problems []string
	if strings.TrimSpace(p.Job) == "" {
		problems = append(problems, "job name is empty")
	}
	if len(p.Payload) == 0 {
		p.Payload = json.RawMessage("{}")
	} else if len(p.Payload) > MaxPayload {
		problems = append(problems, fmt.Sprintf("payload is %d bytes, over the limit of %d (keep large data elsewhere and pass a reference)", len(p.Payload), MaxPayload))
	} else if !json.Valid(p.Payload) {
		problems = append(problems, fmt.Sprintf("payload is not valid JSON: %s", describeJSON(p.Payload)))
	}
	if p.Queue == "" {
		p.Queue = DefaultQueue
	}
	if p.Priority < 0 {
		problems = append(problems, fmt.Sprintf("priority %d is negative", p.Priority))
	}
	if p.MaxAttempts < 0 {
		problems = append(problems, fmt.Sprintf("max attempts %d is negative", p.MaxAttempts))
	}
	if p.Timeout < 0 {
		problems = append(problems, fmt.Sprintf("timeout %s is negative", p.Timeout))
	}
	if p.UniqueKey != "" && strings.TrimSpace(p.UniqueKey) == "" {
		problems = append(problems, "unique key is blank")
	}
	if p.Timeout > 0 && p.Timeout < time.Millisecond {
		problems = append(problems, fmt.Sprintf("timeout %s is below a millisecond", p.Timeout))
	}
	// The row rules (rules.go), which the schema does not check on this
	// process's own writes.
	if p.Timeout > MaxTimeout {
		problems = append(problems, fmt.Sprintf("timeout %s is over the limit of %s", p.Timeout, MaxTimeout))
	}
	if ms := p.RunAt.UnixMilli(); !p.RunAt.IsZero() && (ms < 0 || ms > maxMS) {
		problems = append(problems, fmt.Sprintf("run at %s is outside 1970 to 9999", p.RunAt.Format(time.RFC3339)))
	}
	problems = append(problems, validateFollowUps(p.Then, "")...)
	p.followUps = nil
	if len(p.Then) > 0 && len(problems) == 0 {
		b, err := json.Marshal(p.Then)
		if err != nil {
			problems = append(problems, fmt.Sprintf("follow-ups: %v", err))
		}
		p.followUps = string(b)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(problems, "; "))
	}
	return nil
}

// describeJSON says where JSON stops being valid.
func describeJSON(b []byte) string {
	var v any
	err := json.Unmarshal(b, &v)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%v (at byte %d)", se, se.Offset)
	}
	if err != nil {
		return err.Error()
	}
	return "invalid"
}

func nullMS(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

func nullInt(v int64) any {
	if v == 0 {
		return nil
	}
	return v
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

const insertSQL = `
INSERT INTO tasks (job, payload, queue, priority, run_at, created_at, max_attempts, timeout_ms, task_group, unique_key, follow_ups)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT DO NOTHING
RETURNING id`

// activeKeySQL finds the task holding a unique key (see tasks_unique).
const activeKeySQL = `SELECT id FROM tasks WHERE unique_key = ? AND state IN ('queued', 'running')`

func (s *Store) insertArgs(p EnqueueParams) []any {
	now := s.now().UnixMilli()
	runAt := now
	if !p.RunAt.IsZero() {
		runAt = p.RunAt.UnixMilli()
	}
	return []any{p.Job, string(p.Payload), p.Queue, p.Priority, runAt, now,
		nullInt(int64(p.MaxAttempts)), nullInt(p.Timeout.Milliseconds()), nullString(p.Group), nullString(p.UniqueKey), p.followUps}
}

// querier is what enqueueing needs from *sql.DB and *sql.Tx.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Enqueued tells what an enqueue did.
type Enqueued struct {
	ID int64
	// Duplicate is true when nothing was added because a queued or running
	// task already held the params' UniqueKey; ID is then that task's id.
	Duplicate bool
}

// Enqueue adds one task and returns its id. With a UniqueKey that a queued
// or running task already holds, it adds nothing and returns that task's id
// (EnqueueUnique also says which happened).
func (s *Store) Enqueue(ctx context.Context, p EnqueueParams) (int64, error) {
	r, err := s.EnqueueUnique(ctx, p)
	return r.ID, err
}

// EnqueueTx is like Enqueue, but within an existing transaction on this
// database, so the task exists only if the caller's transaction commits.
func (s *Store) EnqueueTx(ctx context.Context, tx *sql.Tx, p EnqueueParams) (int64, error) {
	r, err := s.EnqueueUniqueTx(ctx, tx, p)
	return r.ID, err
}

// EnqueueUnique is like Enqueue, and also reports whether the task was a
// duplicate of a queued or running task with the same UniqueKey.
func (s *Store) EnqueueUnique(ctx context.Context, p EnqueueParams) (Enqueued, error) {
	if p.UniqueKey == "" {
		// One autocommit statement: no key, no conflict to resolve.
		return s.enqueue(ctx, s.db.Write, p)
	}
	// The insert and the look-up of the key's holder share one write
	// transaction, so the holder cannot finish in between.
	tx, err := s.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return Enqueued{}, wrap("enqueue", err)
	}
	defer tx.Rollback()
	r, err := s.enqueue(ctx, tx, p)
	if err != nil {
		return Enqueued{}, err
	}
	return r, wrap("enqueue", tx.Commit())
}

// EnqueueUniqueTx is like EnqueueUnique, but within an existing transaction.
func (s *Store) EnqueueUniqueTx(ctx context.Context, tx *sql.Tx, p EnqueueParams) (Enqueued, error) {
	return s.enqueue(ctx, tx, p)
}

func (s *Store) enqueue(ctx context.Context, db querier, p EnqueueParams) (Enqueued, error) {
	if err := p.Validate(); err != nil {
		return Enqueued{}, wrap("enqueue", err)
	}
	var r Enqueued
	err := db.QueryRowContext(ctx, insertSQL, s.insertArgs(p)...).Scan(&r.ID)
	if errors.Is(err, sql.ErrNoRows) && p.UniqueKey != "" {
		r.Duplicate = true
		err = db.QueryRowContext(ctx, activeKeySQL, p.UniqueKey).Scan(&r.ID)
	}
	if err == nil && !r.Duplicate {
		s.notify()
	}
	return r, wrap("enqueue", err)
}

// A batch insert adds up to batchRows tasks per statement:
//
//	INSERT INTO tasks (...) VALUES (?2, ?3, ..., ?1, ...), (?10, ...), ...
//
// ?1 is created_at, shared by every row; each task then has batchColumns
// parameters of its own (batchArgs). A batch is cut into statements of
// batchRows tasks and a rest of halving sizes (64, 32, ..., 1), so a
// connection compiles at most eight shapes however large its batches are.
// Tasks with large payloads go fewer to a statement (batchBytes): bound
// values live in SQLite's heap, which the driver caps at 256 MiB.
//
// Bound parameters beat the alternatives measured (BENCHMARKS.md): one
// INSERT ... SELECT over json_each(?) of the whole batch spent most of its
// time taking the JSON apart again, and one statement per row paid the
// per-statement cost on every task. 64 to 256 rows per statement measure the
// same; past that the compiled statement only grows.
const (
	batchRows    = 128 // a power of two
	batchColumns = 9
	batchBytes   = 16 << 20 // payload bytes per statement, unless one task has more
)

// batchInsertSQL returns the insert of n tasks described above; n is one
// of batchSize's answers. The texts are built once: they are the keys of the
// connection's cache of compiled statements, looked up for every statement.
func batchInsertSQL(n int) string {
	return batchInserts()[bits.Len(uint(n))-1]
}

// batchInserts holds the insert of 2^i tasks at index i.
var batchInserts = sync.OnceValue(func() []string {
	var texts []string
	for n := 1; n <= batchRows; n *= 2 {
		var b strings.Builder
		b.WriteString("INSERT INTO tasks (job, payload, queue, priority, run_at, created_at, max_attempts, timeout_ms, task_group, follow_ups) VALUES ")
		for r := range n {
			if r > 0 {
				b.WriteString(", ")
			}
			p := 2 + r*batchColumns
			fmt.Fprintf(&b, "(?%d, ?%d, ?%d, ?%d, ?%d, ?1, ?%d, ?%d, ?%d, ?%d)", p, p+1, p+2, p+3, p+4, p+5, p+6, p+7, p+8)
		}
		texts = append(texts, b.String())
	}
	return texts
})

// batchSize is how many of the remaining tasks ps the next statement
// inserts: batchRows or the largest power of two not above len(ps), halved
// while their payloads pass batchBytes, and at least one.
func batchSize(ps []EnqueueParams) int {
	size := batchRows
	for size > len(ps) {
		size /= 2
	}
	for size > 1 && payloadBytes(ps[:size]) > batchBytes {
		size /= 2
	}
	return size
}

func payloadBytes(ps []EnqueueParams) int {
	n := 0
	for i := range ps {
		n += len(ps[i].Payload)
	}
	return n
}

// batchArgs appends one statement's parameters for ps (validated) to args.
func batchArgs(args []any, now int64, ps []EnqueueParams) []any {
	args = append(args, now)
	for i := range ps {
		p := &ps[i]
		runAt := now
		if !p.RunAt.IsZero() {
			runAt = p.RunAt.UnixMilli()
		}
		args = append(args, p.Job, string(p.Payload), p.Queue, p.Priority, runAt,
			nullInt(int64(p.MaxAttempts)), nullInt(p.Timeout.Milliseconds()), nullString(p.Group), p.followUps)
	}
	return args
}

// insertBatches inserts ps (validated, without unique keys) one statement
// per batchSize and returns their ids in order. exec runs the statement of n
// rows with args and returns the rowid of the last row and the rows added.
// Each statement runs under the write lock, so its rowids are consecutive.
func insertBatches(now int64, ps []EnqueueParams, exec func(n int, args []any) (last, added int64, err error)) ([]int64, error) {
	ids := make([]int64, 0, len(ps))
	args := make([]any, 0, 1+batchRows*batchColumns)
	for len(ps) > 0 {
		n := batchSize(ps)
		last, added, err := exec(n, batchArgs(args[:0], now, ps[:n]))
		if err != nil {
			return nil, err
		}
		if added != int64(n) {
			return nil, fmt.Errorf("inserted %d rows, want %d", added, n)
		}
		for i := range int64(n) {
			ids = append(ids, last-int64(n)+1+i)
		}
		ps = ps[n:]
	}
	return ids, nil
}

// ValidateBatch validates every task of a batch, naming the first bad one.
func ValidateBatch(ps []EnqueueParams) error {
	for i := range ps {
		if err := ps[i].Validate(); err != nil {
			return fmt.Errorf("enqueue batch: task %d: %w", i, err)
		}
	}
	return nil
}

// EnqueueMany adds tasks in one transaction and returns their ids in order.
// Either all are added or none. A task whose UniqueKey is held by a queued or
// running task (or by an earlier task of the same batch) is not added; its id
// is the holder's. EnqueueManyUnique also says which tasks were duplicates.
//
// Without unique keys it runs on the driver's direct API with statements
// compiled once per connection, the fastest way in.
func (s *Store) EnqueueMany(ctx context.Context, ps []EnqueueParams) ([]int64, error) {
	if len(ps) == 0 {
		return nil, nil
	}
	if hasUniqueKey(ps) {
		rs, err := s.EnqueueManyUnique(ctx, ps)
		return enqueuedIDs(rs), err
	}
	if err := ValidateBatch(ps); err != nil {
		return nil, err
	}
	var ids []int64
	err := s.db.Raw(ctx, func(c *sqlitewal.Conn) error {
		if err := c.Exec("BEGIN IMMEDIATE"); err != nil {
			return err
		}
		var err error
		ids, err = insertBatches(s.now().UnixMilli(), ps, func(n int, args []any) (int64, int64, error) {
			st, err := c.Prepared(batchInsertSQL(n))
			if err != nil {
				return 0, 0, err
			}
			err = bind(st, args...)
			if err == nil {
				err = st.Exec()
			}
			// Payloads can be large: don't keep them in SQLite's heap until the next batch.
			if err := errors.Join(err, st.ClearBindings()); err != nil {
				return 0, 0, err
			}
			return c.LastInsertRowID(), c.Changes(), nil
		})
		if err != nil {
			return err
		}
		return c.Exec("COMMIT") // sqlitewal.DB.Raw rolls back if it failed
	})
	if err != nil {
		return nil, wrap("enqueue batch", err)
	}
	s.notify()
	return ids, nil
}

// EnqueueManyTx is like EnqueueMany, but within an existing transaction.
// Either all tasks are added or none: the batch runs under a savepoint, so
// when it fails the caller's transaction is as it was before the call.
func (s *Store) EnqueueManyTx(ctx context.Context, tx *sql.Tx, ps []EnqueueParams) ([]int64, error) {
	if len(ps) == 0 {
		return nil, nil
	}
	if err := ValidateBatch(ps); err != nil {
		return nil, err
	}
	// The statements run without ctx's cancellation: SQLite rolls back the
	// whole transaction, the caller's work included, when a statement in it
	// is interrupted. ctx is checked between statements instead.
	run := context.WithoutCancel(ctx)
	if _, err := tx.ExecContext(run, "SAVEPOINT sluice_enqueue_batch"); err != nil {
		return nil, wrap("enqueue batch", err)
	}
	ids, err := s.enqueueManyTx(ctx, run, tx, ps)
	if err == nil {
		if _, err = tx.ExecContext(run, "RELEASE sluice_enqueue_batch"); err == nil {
			s.notify()
			return ids, nil
		}
		err = wrap("enqueue batch", err)
	}
	for _, q := range []string{"ROLLBACK TO sluice_enqueue_batch", "RELEASE sluice_enqueue_batch"} {
		if _, rerr := tx.ExecContext(run, q); rerr != nil {
			return nil, errors.Join(err, fmt.Errorf("enqueue batch: undo: %w", rerr))
		}
	}
	return nil, err
}

// enqueueManyTx inserts validated tasks in tx, running its statements with
// run and stopping between them when ctx ends.
func (s *Store) enqueueManyTx(ctx, run context.Context, tx *sql.Tx, ps []EnqueueParams) ([]int64, error) {
	if hasUniqueKey(ps) {
		rs, err := s.enqueueEach(ctx, run, tx, ps)
		return enqueuedIDs(rs), err
	}
	stmts := map[int]*sql.Stmt{}
	defer func() {
		for _, st := range stmts {
			st.Close()
		}
	}()
	ids, err := insertBatches(s.now().UnixMilli(), ps, func(n int, args []any) (int64, int64, error) {
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
		st := stmts[n]
		if st == nil {
			var err error
			if st, err = tx.PrepareContext(run, batchInsertSQL(n)); err != nil {
				return 0, 0, err
			}
			stmts[n] = st
		}
		res, err := st.ExecContext(run, args...)
		if err != nil {
			return 0, 0, err
		}
		last, err := res.LastInsertId()
		if err != nil {
			return 0, 0, err
		}
		added, err := res.RowsAffected()
		return last, added, err
	})
	return ids, wrap("enqueue batch", err)
}

// enqueuedIDs returns the ids of rs, or nil when rs is.
func enqueuedIDs(rs []Enqueued) []int64 {
	if rs == nil {
		return nil
	}
	ids := make([]int64, len(rs))
	for i, r := range rs {
		ids[i] = r.ID
	}
	return ids
}

// EnqueueManyUnique is like EnqueueMany, and also reports which tasks were
// duplicates of a queued or running task with the same UniqueKey.
func (s *Store) EnqueueManyUnique(ctx context.Context, ps []EnqueueParams) ([]Enqueued, error) {
	tx, err := s.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return nil, wrap("enqueue batch", err)
	}
	defer tx.Rollback()
	rs, err := s.enqueueEach(ctx, ctx, tx, ps)
	if err != nil {
		return nil, err
	}
	return rs, wrap("enqueue batch", tx.Commit())
}

func hasUniqueKey(ps []EnqueueParams) bool {
	for _, p := range ps {
		if p.UniqueKey != "" {
			return true
		}
	}
	return false
}

// enqueueEach inserts tasks one statement each, which a batch with unique
// keys needs: a single INSERT ... SELECT cannot say which rows it skipped.
// The statements run with run; ctx ending stops the loop between them.
func (s *Store) enqueueEach(ctx, run context.Context, tx *sql.Tx, ps []EnqueueParams) ([]Enqueued, error) {
	if err := ValidateBatch(ps); err != nil {
		return nil, err
	}
	rs := make([]Enqueued, len(ps))
	for i, p := range ps {
		if err := ctx.Err(); err != nil {
			return nil, wrap("enqueue batch", err)
		}
		r, err := s.enqueue(run, tx, p)
		if err != nil {
			return nil, fmt.Errorf("enqueue batch: task %d: %w", i, err)
		}
		rs[i] = r
	}
	return rs, nil
}
