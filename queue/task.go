package queue

import (
	"encoding/json"
	"time"
)

// State is where a task is in its life.
type State string

// The states a task moves through: queued → running → succeeded | failed | cancelled,
// and back to queued when a failed attempt will be retried or a lease expires.
const (
	Queued    State = "queued"
	Running   State = "running"
	Succeeded State = "succeeded"
	Failed    State = "failed"
	Cancelled State = "cancelled"
)

// States lists every state in life order.
var States = []State{Queued, Running, Succeeded, Failed, Cancelled}

// finishedStates is the SQL test for a final state, written exactly as the
// tasks_state index's WHERE clause (migration 0005). SQLite uses that partial
// index only for a query whose WHERE clause visibly implies the index's: one
// state as a literal ("state = 'failed'") or a bound parameter (SQLite
// compares the bound value, compiling the statement again when it changes),
// or this test as written; "state IN (...)" is not enough. The plan tests
// (queue/plan_test.go, plan_status_test.go) check every hot statement.
const finishedStates = "(state = 'succeeded' OR state = 'failed' OR state = 'cancelled')"

// Final reports whether a task in state s will not run again by itself.
func (s State) Final() bool { return s == Succeeded || s == Failed || s == Cancelled }

// Task is one queued run of a job with its payload.
type Task struct {
	ID      int64
	Job     string
	Payload json.RawMessage // as stored; may be invalid JSON if inserted through SQL
	// PayloadBytes is the stored payload's size. A claimed task whose
	// payload is over MaxPayload (only an SQL insert can store one) comes
	// without it: a claim holds its payloads in SQLite's heap, which a batch
	// of such payloads would exhaust. The worker fails such a task.
	PayloadBytes int
	Queue        string
	Priority     int
	State        State
	Attempt      int // attempts started so far, including a running one
	MaxAttempts  int // 0 in a stored row means "the worker's default"
	Timeout      time.Duration
	Group        string
	UniqueKey    string // see EnqueueParams.UniqueKey
	RunAt        time.Time
	CreatedAt    time.Time
	StartedAt    time.Time
	FinishedAt   time.Time
	LeaseUntil   time.Time
	Worker       string
	Duration     time.Duration // of the latest attempt
	Result       []byte
	Error        string
	History      []Attempt
	// ScheduleID is the schedule that made the task; 0 for other tasks.
	ScheduleID int64
	// ScheduledFor is the due time the task stands for when a schedule made
	// it (column scheduled_for); it may be earlier than RunAt after downtime.
	ScheduledFor time.Time
	// Invalid says what is wrong with the stored row when it breaks the
	// rules (queue/rules.go; only SQL that bypasses them stores one); empty
	// for a valid row. Set by a claim and by Get. The worker fails such a
	// task at once, without running it.
	Invalid string
}

// Attempt is one run of a task, as kept in its history.
type Attempt struct {
	Attempt   int           `json:"attempt"`
	StartedAt time.Time     `json:"-"`
	Duration  time.Duration `json:"-"`
	Error     string        `json:"error,omitempty"`
	Outcome   string        `json:"outcome"` // succeeded, failed, timeout, lease_expired, released, cancelled, retried (by an operator)

	StartedMS  int64 `json:"started_at"`
	DurationMS int64 `json:"duration_ms"`

	// Leftover counts the processes still alive when a supervised attempt's
	// command ended, which its supervisor killed; nil when not supervised.
	Leftover *int `json:"leftover,omitempty"`
	// PeakRSS is the largest resident set, in bytes, of any process of a
	// supervised attempt; 0 when not measured.
	PeakRSS int64 `json:"peak_rss,omitempty"`
}

// ProcessStats is what a supervisor measured of an attempt's processes.
type ProcessStats struct {
	Leftover int   // processes killed after the command ended
	PeakRSS  int64 // bytes
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromMS reads a stored time. A time outside years 0 to 9999 (only SQL
// that bypasses the row rules stores one) reads as the nearest end of that
// range, which RFC 3339 and JSON can still write.
func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(min(max(v, minMS), maxMS)).UTC()
}

// minMS is the first millisecond of year 0, the earliest time fromMS returns.
const minMS = -62167219200000
