package pgqueue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluicehq/sluice/queue"
)

// insertSQL adds one task, or, when a queued or running task holds its
// unique key, returns that task's id with duplicate set: one statement, one
// round trip. The conflict names tasks_unique (its column and predicate),
// so any other conflict, such as an id taken by a row inserted with an
// explicit id, fails the statement instead of passing for a duplicate.
// $11 is now (nowParam), $12 the follow-ups.
//
// The look-up reads the statement's snapshot; a holder that committed while
// the insert waited on it is not in it, and neither row comes back. enqueue
// then runs the statement again (the holder may also have finished).
var insertSQL = `
WITH c AS (SELECT ` + nowParam(11) + ` AS now),
ins AS (
    INSERT INTO tasks (job, payload, queue, priority, run_at, created_at, max_attempts, timeout_ms, task_group, unique_key, follow_ups)
    SELECT $1::text, $2::text, $3::text, $4::bigint, coalesce($5::bigint, c.now), c.now, $6::bigint, $7::bigint, $8::text, $9::text,
           $12::json
    FROM c
    ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL AND state IN ('queued', 'running') DO NOTHING
    RETURNING id)
SELECT id, false FROM ins
UNION ALL
SELECT id, true FROM tasks
WHERE $10::boolean AND unique_key = $9::text AND state IN ('queued', 'running') AND NOT EXISTS (SELECT 1 FROM ins)`

// followUpsArg is p.Then (validated) as the follow_ups column holds it, or
// nil. Marshal cannot fail: every payload in it is valid JSON.
func followUpsArg(p queue.EnqueueParams) *string {
	if len(p.Then) == 0 {
		return nil
	}
	b, _ := json.Marshal(p.Then)
	return ptr(string(b))
}

// insertTries bounds the reruns of insertSQL for a unique key whose holder
// keeps changing under it.
const insertTries = 10

func (s *Store) insertArgs(p queue.EnqueueParams) []any {
	return []any{p.Job, string(p.Payload), p.Queue, p.Priority, nullMS(p.RunAt),
		nullInt(int64(p.MaxAttempts)), nullInt(p.Timeout.Milliseconds()), nullString(p.Group),
		nullString(p.UniqueKey), p.UniqueKey != "", s.nowArg(), followUpsArg(p)}
}

// Enqueue adds one task and returns its id. With a UniqueKey that a queued
// or running task already holds, it adds nothing and returns that task's id
// (EnqueueUnique also says which happened).
func (s *Store) Enqueue(ctx context.Context, p queue.EnqueueParams) (int64, error) {
	r, err := s.EnqueueUnique(ctx, p)
	return r.ID, err
}

// EnqueueTx is like Enqueue, but within the caller's transaction on this
// database, so the task exists only if that transaction commits. Run loops
// listening on any machine wake when it commits.
func (s *Store) EnqueueTx(ctx context.Context, tx pgx.Tx, p queue.EnqueueParams) (int64, error) {
	r, err := s.EnqueueUniqueTx(ctx, tx, p)
	return r.ID, err
}

// EnqueueUnique is like Enqueue, and also reports whether the task was a
// duplicate of a queued or running task with the same UniqueKey.
func (s *Store) EnqueueUnique(ctx context.Context, p queue.EnqueueParams) (queue.Enqueued, error) {
	r, err := s.enqueue(ctx, s.pool, p)
	if err == nil && !r.Duplicate {
		s.notify()
	}
	return r, err
}

// EnqueueUniqueTx is like EnqueueUnique, but within the caller's transaction.
func (s *Store) EnqueueUniqueTx(ctx context.Context, tx pgx.Tx, p queue.EnqueueParams) (queue.Enqueued, error) {
	return s.enqueue(ctx, tx, p)
}

func (s *Store) enqueue(ctx context.Context, q querier, p queue.EnqueueParams) (queue.Enqueued, error) {
	if err := p.Validate(); err != nil {
		return queue.Enqueued{}, wrap("enqueue", err)
	}
	args := s.insertArgs(p)
	for range insertTries {
		var r queue.Enqueued
		err := q.QueryRow(ctx, insertSQL, args...).Scan(&r.ID, &r.Duplicate)
		if !errors.Is(err, pgx.ErrNoRows) {
			return r, wrap("enqueue", explainIDTaken(err))
		}
	}
	return queue.Enqueued{}, fmt.Errorf("enqueue: unique key %q: its holder changed %d times in a row", p.UniqueKey, insertTries)
}

// A batch without unique keys goes in by statements of up to batchRows
// tasks, each column sent as one array and unnested in order:
// one statement and one round trip per batchRows tasks, with parameters
// bound (no SQL built from values). Tasks with large payloads go fewer to a
// statement (batchBytes).
const (
	batchRows  = 1000
	batchBytes = 16 << 20
)

// batchInsertSQL inserts the rows of the arrays $2.. in their order; ids
// are assigned in that order, so the ids it returns, sorted, are the rows'.
var batchInsertSQL = `
WITH c AS (SELECT ` + nowParam(1) + ` AS now)
INSERT INTO tasks (job, payload, queue, priority, run_at, created_at, max_attempts, timeout_ms, task_group, follow_ups)
SELECT r.job, r.payload, r.queue, r.priority, coalesce(r.run_at, c.now), c.now, r.max_attempts, r.timeout_ms, r.task_group,
       r.follow_ups::json
FROM c, unnest($2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::text[], $10::text[])
    WITH ORDINALITY AS r(job, payload, queue, priority, run_at, max_attempts, timeout_ms, task_group, follow_ups, n)
ORDER BY r.n
RETURNING id`

// batchArgs returns batchInsertSQL's parameters for ps (validated).
func (s *Store) batchArgs(ps []queue.EnqueueParams) []any {
	var (
		jobs, payloads, queues []string
		prios                  []int64
		runAts, maxes, touts   []*int64
		groups, follows        []*string
	)
	opt := func(v int64) *int64 {
		if v == 0 {
			return nil
		}
		return &v
	}
	for i := range ps {
		p := &ps[i]
		jobs = append(jobs, p.Job)
		payloads = append(payloads, string(p.Payload))
		queues = append(queues, p.Queue)
		prios = append(prios, int64(p.Priority))
		runAts = append(runAts, opt(ms(p.RunAt)))
		maxes = append(maxes, opt(int64(p.MaxAttempts)))
		touts = append(touts, opt(p.Timeout.Milliseconds()))
		var g *string
		if p.Group != "" {
			g = &p.Group
		}
		groups = append(groups, g)
		follows = append(follows, followUpsArg(*p))
	}
	return []any{s.nowArg(), jobs, payloads, queues, prios, runAts, maxes, touts, groups, follows}
}

// batchSize is how many of the remaining tasks ps the next statement takes.
func batchSize(ps []queue.EnqueueParams) int {
	n, bytes := 0, 0
	for n < len(ps) && n < batchRows {
		bytes += len(ps[n].Payload)
		if n > 0 && bytes > batchBytes {
			break
		}
		n++
	}
	return n
}

// EnqueueMany adds tasks in one transaction and returns their ids in order.
// Either all are added or none. A task whose UniqueKey is held by a queued or
// running task (or by an earlier task of the same batch) is not added; its id
// is the holder's. EnqueueManyUnique also says which tasks were duplicates.
func (s *Store) EnqueueMany(ctx context.Context, ps []queue.EnqueueParams) ([]int64, error) {
	if len(ps) == 0 {
		return nil, nil
	}
	rs, err := s.EnqueueManyUnique(ctx, ps)
	return enqueuedIDs(rs), err
}

// EnqueueManyUnique is like EnqueueMany, and also reports which tasks were
// duplicates of a queued or running task with the same UniqueKey.
func (s *Store) EnqueueManyUnique(ctx context.Context, ps []queue.EnqueueParams) ([]queue.Enqueued, error) {
	if len(ps) == 0 {
		return nil, nil
	}
	if err := queue.ValidateBatch(ps); err != nil {
		return nil, err
	}
	var rs []queue.Enqueued
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		rs, err = s.enqueueMany(ctx, ctx, tx, ps)
		return err
	})
	if err != nil {
		return nil, wrap("enqueue batch", explainIDTaken(err))
	}
	s.notify()
	return rs, nil
}

// EnqueueManyTx is like EnqueueMany, but within the caller's transaction.
// Either all tasks are added or none: the batch runs under a savepoint, so
// when it fails the caller's transaction is as it was before the call.
func (s *Store) EnqueueManyTx(ctx context.Context, tx pgx.Tx, ps []queue.EnqueueParams) ([]int64, error) {
	if len(ps) == 0 {
		return nil, nil
	}
	if err := queue.ValidateBatch(ps); err != nil {
		return nil, err
	}
	// The statements run without ctx's cancellation: a cancelled statement
	// could cost the caller's connection, and with it the caller's
	// transaction. ctx is checked between statements instead.
	run := context.WithoutCancel(ctx)
	sp, err := tx.Begin(run) // a savepoint
	if err != nil {
		return nil, wrap("enqueue batch", err)
	}
	rs, err := s.enqueueMany(ctx, run, sp, ps)
	if err == nil {
		err = sp.Commit(run)
	}
	if err != nil {
		if rerr := sp.Rollback(run); rerr != nil && !errors.Is(rerr, pgx.ErrTxClosed) {
			err = errors.Join(err, fmt.Errorf("undo: %w", rerr))
		}
		return nil, wrap("enqueue batch", explainIDTaken(err))
	}
	return enqueuedIDs(rs), nil
}

// enqueueMany inserts validated tasks in tx, running its statements with run
// and stopping between them when ctx ends.
func (s *Store) enqueueMany(ctx, run context.Context, tx pgx.Tx, ps []queue.EnqueueParams) ([]queue.Enqueued, error) {
	if hasUniqueKey(ps) {
		return s.enqueueEach(ctx, run, tx, ps)
	}
	rs := make([]queue.Enqueued, 0, len(ps))
	for len(ps) > 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n := batchSize(ps)
		rows, err := tx.Query(run, batchInsertSQL, s.batchArgs(ps[:n])...)
		if err != nil {
			return nil, err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return nil, err
		}
		if len(ids) != n {
			return nil, fmt.Errorf("inserted %d rows, want %d", len(ids), n)
		}
		// RETURNING gives no order; the ids were drawn in row order.
		slices.Sort(ids)
		for _, id := range ids {
			rs = append(rs, queue.Enqueued{ID: id})
		}
		ps = ps[n:]
	}
	return rs, nil
}

// enqueueEach inserts tasks one statement each, sent together in one round
// trip: a batch with unique keys needs each row's own answer (added, or the
// holder's id), and a row may repeat an earlier row's key.
func (s *Store) enqueueEach(ctx, run context.Context, tx pgx.Tx, ps []queue.EnqueueParams) ([]queue.Enqueued, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b := &pgx.Batch{}
	for _, p := range ps {
		b.Queue(insertSQL, s.insertArgs(p)...)
	}
	rs := make([]queue.Enqueued, len(ps))
	var again []int // rows whose holder moved under them
	br := tx.SendBatch(run, b)
	for i := range ps {
		err := br.QueryRow().Scan(&rs[i].ID, &rs[i].Duplicate)
		if errors.Is(err, pgx.ErrNoRows) {
			again = append(again, i)
			continue
		}
		if err != nil {
			br.Close()
			return nil, fmt.Errorf("task %d: %w", i, err)
		}
	}
	if err := br.Close(); err != nil {
		return nil, err
	}
	for _, i := range again {
		r, err := s.enqueue(run, tx, ps[i])
		if err != nil {
			return nil, fmt.Errorf("task %d: %w", i, err)
		}
		rs[i] = r
	}
	return rs, nil
}

// resetIDSQL moves the tasks' id sequence past the highest id, after a
// program inserted tasks with explicit ids (a copy from SQLite, say).
const resetIDSQL = `SELECT setval(pg_get_serial_sequence('tasks', 'id'), (SELECT max(id) FROM tasks))`

// explainIDTaken adds the cure to a primary key conflict: the identity
// drew an id that a row inserted with an explicit id already has.
func explainIDTaken(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == "tasks_pkey" {
		return fmt.Errorf("%w: the id sequence is behind ids inserted explicitly; run %s once", err, resetIDSQL)
	}
	return err
}

func hasUniqueKey(ps []queue.EnqueueParams) bool {
	for _, p := range ps {
		if p.UniqueKey != "" {
			return true
		}
	}
	return false
}

// enqueuedIDs returns the ids of rs, or nil when rs is.
func enqueuedIDs(rs []queue.Enqueued) []int64 {
	if rs == nil {
		return nil
	}
	ids := make([]int64, len(rs))
	for i, r := range rs {
		ids[i] = r.ID
	}
	return ids
}
