package queue

import (
	"strconv"
	"time"
)

// The rules every task row keeps. Migration 0007 makes the schema refuse an
// INSERT that breaks them (and an UPDATE of a column only clients write).
// What the schema cannot stop (rows from before that migration was applied
// are failed by it; an UPDATE of a column Sluice itself writes; triggers
// dropped by hand) every statement here tolerates: rowProblemSQL names
// what is wrong, the claim hands such a row to the worker, which fails it
// at once with "invalid row: ...", and no row can make a write or a read
// of other rows fail.

// MaxTimeout is the longest timeout a task may carry (timeout_ms). It bounds
// the lease a claim gives, so a task whose worker died is never held for
// years.
const MaxTimeout = 24 * time.Hour

// maxMS is the last millisecond of year 9999, the latest time a row may
// hold: Go's time formats (RFC 3339, JSON) end there.
const maxMS = 253402300799999

// maxMSText is maxMS for SQL texts.
var maxMSText = strconv.FormatInt(maxMS, 10)

// rowProblemSQL is an SQL expression over a tasks row: NULL when the row
// keeps the rules, else what is wrong with it, for "invalid row: ...". It
// checks what a claim, a worker and a history entry depend on; the CASE
// stops at the first problem, so json_type never sees invalid JSON, and a
// new task's history ('[]') is not parsed at all.
var rowProblemSQL = `CASE
    WHEN typeof(job) <> 'text' OR job = '' THEN 'job ' || substr(quote(job), 1, 40) || ' is not a name'
    WHEN typeof(priority) <> 'integer' THEN 'priority ' || substr(quote(priority), 1, 40) || ' is not a whole number'
    WHEN priority < 0 THEN 'priority ' || priority || ' is negative'
    WHEN typeof(attempt) <> 'integer' OR attempt < 0 THEN 'attempt ' || substr(quote(attempt), 1, 40) || ' is not a whole number, 0 or more'
    WHEN max_attempts IS NOT NULL AND (typeof(max_attempts) <> 'integer' OR max_attempts < 1)
        THEN 'max_attempts ' || substr(quote(max_attempts), 1, 40) || ' is not a whole number, 1 or more'
    WHEN timeout_ms IS NOT NULL AND (typeof(timeout_ms) <> 'integer' OR timeout_ms < 1 OR timeout_ms > ` +
	strconv.FormatInt(MaxTimeout.Milliseconds(), 10) + `)
        THEN 'timeout_ms ' || substr(quote(timeout_ms), 1, 40) || ' is not a whole number of milliseconds from 1 to ` +
	strconv.FormatInt(MaxTimeout.Milliseconds(), 10) + ` (` + MaxTimeout.String() + `)'
    WHEN typeof(run_at) <> 'integer' OR run_at < 0 OR run_at > ` + maxMSText + `
        THEN 'run_at ' || substr(quote(run_at), 1, 40) || ' is not Unix milliseconds from 0 to ` + maxMSText + ` (year 9999)'
    WHEN history <> '[]' AND NOT json_valid(history) THEN 'history is not valid JSON'
    WHEN history <> '[]' AND json_type(history) <> 'array' THEN 'history is not a JSON array'
END`

// appendHistory is an SQL expression: the row's history with entry (an SQL
// json_object) added, which can never fail a statement. A history that is
// not valid JSON (only a hand edit stores one) is replaced by an array
// holding the entry alone; valid JSON that is not an array is left as it is
// (json_insert adds nothing to it). SQLite parses the history once for both
// calls.
func appendHistory(entry string) string {
	return `json_insert(CASE WHEN json_valid(history) THEN history ELSE '[]' END, '$[#]', ` + entry + `)`
}
