package pgqueue

import (
	"fmt"

	"github.com/sluicehq/sluice/queue"
)

// finishedCols are the columns of a task that just reached its state that
// followUpsCTE reads: what a statement's RETURNING gives it.
const finishedCols = "t.id, t.job, t.state, t.result, t.error, t.task_group, t.follow_ups"

// followUpsCTE returns a WITH item, f, that enqueues the follow-ups
// (tasks.follow_ups) of the tasks in the CTE src (finishedCols, as just
// written by the same statement): WhenSuccess ones if the task succeeded,
// WhenDone ones whatever its final state; a task queued again enqueues
// nothing. It needs the CTE c (the clock). So the follow-ups share the
// outcome's statement, and with it its transaction. A spec another
// language stored badly is skipped or defaulted, never allowed to fail the
// statement (the column's type already refuses text that is not JSON).
func followUpsCTE(src string) string {
	// A whole number at least lo (and at most hi when > 0), else NULL: as
	// SQLite's typeof(...) = 'integer' with its bounds. Nested CASEs, as
	// AND does not order the cast after the check.
	whole := func(key string, lo, hi int64) string {
		v := fmt.Sprintf(`(e.v ->> '%s')::bigint`, key)
		within := fmt.Sprintf("%s >= %d", v, lo)
		if hi > 0 {
			within = fmt.Sprintf("%s BETWEEN %d AND %d", v, lo, hi)
		}
		return fmt.Sprintf(`CASE WHEN json_typeof(e.v -> '%[1]s') = 'number' AND (e.v ->> '%[1]s') ~ '^[0-9]{1,15}$' THEN
               CASE WHEN %[2]s THEN %[3]s END END`, key, within, v)
	}
	return fmt.Sprintf(`
f AS (
    INSERT INTO tasks (job, payload, queue, priority, run_at, created_at, max_attempts, timeout_ms, task_group, follow_ups)
    SELECT e.v ->> 'job',
           CASE WHEN e.v ->> 'when' = '%[2]s' THEN
               (CASE WHEN json_typeof(e.v -> 'payload') = 'object' THEN (e.v -> 'payload')::jsonb ELSE '{}' END
                || jsonb_build_object('task', jsonb_build_object('id', d.id, 'job', d.job, 'state', d.state,
                       'result', sluice_json_or_text(d.result), 'error', d.error, 'group', d.task_group)))::text
           ELSE coalesce((e.v -> 'payload')::text, '{}') END,
           CASE WHEN json_typeof(e.v -> 'queue') = 'string' AND e.v ->> 'queue' <> '' THEN e.v ->> 'queue' ELSE '%[4]s' END,
           coalesce(%[5]s, 0),
           c.now, c.now,
           %[6]s,
           %[7]s,
           CASE WHEN json_typeof(e.v -> 'group') = 'string' THEN e.v ->> 'group' END,
           CASE WHEN json_typeof(e.v -> 'then') = 'array' THEN e.v -> 'then' END
    FROM c, %[1]s d, json_array_elements(CASE WHEN json_typeof(d.follow_ups) = 'array' THEN d.follow_ups END) e(v)
    WHERE d.follow_ups IS NOT NULL
      AND json_typeof(e.v -> 'job') = 'string' AND e.v ->> 'job' <> ''
      AND (e.v ->> 'when' = '%[2]s' AND d.state IN ('succeeded', 'failed', 'cancelled')
           OR coalesce(e.v ->> 'when', '%[3]s') = '%[3]s' AND d.state = 'succeeded'))`,
		src, queue.WhenDone, queue.WhenSuccess, queue.DefaultQueue, whole("priority", 0, 0), whole("max_attempts", 1, 0),
		whole("timeout_ms", 1, queue.MaxTimeout.Milliseconds()))
}
