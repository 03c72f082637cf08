// Package queuetest is the behavioural suite every task store passes: what
// queue.Backend promises, checked the same way on SQLite (package queue) and
// PostgreSQL (package pgqueue). A store's own package keeps the tests about
// its engine (plans, pragmas, migrations, LISTEN/NOTIFY, transactions).
//
// A store's package runs it from a test:
//
//	func TestBackend(t *testing.T) {
//		queuetest.Run(t, queuetest.Harness{Open: ..., Again: ..., SQL: ...})
//	}
package queuetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/queue"
)

// Harness is what the suite needs of a store.
type Harness struct {
	// Open returns a store on a new, empty database whose clock is now,
	// closed when t ends.
	Open func(t testing.TB, now func() time.Time) queue.Backend
	// Again returns another store on b's database, as another process
	// opens it, closed when t ends.
	Again func(t testing.TB, b queue.Backend, now func() time.Time) queue.Backend
	// SQL runs query, written in SQL both engines read, on b's database as
	// another program would, and returns the first column of its first row
	// (0 when it returns no row).
	SQL func(t testing.TB, b queue.Backend, query string) (int64, error)
	// Skip names the subtests this store does not pass yet, each with the
	// difference that makes it fail; the suite skips them with that reason.
	Skip map[string]string
}

// test is one subtest of the suite.
type test struct {
	name string
	fn   func(t *testing.T, h *Harness)
}

// Run runs the suite, each subtest in parallel on its own database.
func Run(t *testing.T, h Harness) {
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if why, ok := h.Skip[tt.name]; ok {
				t.Skip(why)
			}
			tt.fn(t, &h)
		})
	}
}

// open returns a fresh store on clk.
func (h *Harness) open(t testing.TB, clk *Clock) queue.Backend {
	t.Helper()
	return h.Open(t, clk.Now)
}

// sql runs query through h.SQL, failing t on an error.
func (h *Harness) sql(t testing.TB, b queue.Backend, query string) int64 {
	t.Helper()
	n, err := h.SQL(t, b, query)
	if err != nil {
		t.Fatalf("%.200s: %v", query, err)
	}
	return n
}

// Clock is a settable time source for tests.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock at a fixed time.
func NewClock() *Clock { return &Clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// clock and newClock keep the moved tests' words.
type clock = Clock

func newClock() *Clock { return NewClock() }

func mustEnqueue(tb testing.TB, s queue.Backend, p queue.EnqueueParams) int64 {
	tb.Helper()
	id, err := s.Enqueue(context.Background(), p)
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

var params = queue.ClaimParams{
	Worker: "w1", Limit: 10, DefaultTimeout: time.Minute, DefaultMaxAttempts: 3, LeaseMargin: 30 * time.Second,
}

func exchange(tb testing.TB, s queue.Backend, outcomes []queue.Outcome, p queue.ClaimParams) queue.ExchangeResult {
	tb.Helper()
	res, err := s.Exchange(context.Background(), outcomes, p)
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

func ids(ts []queue.Task) []int64 {
	var out []int64
	for _, t := range ts {
		out = append(out, t.ID)
	}
	return out
}

// tests lists the suite; each runs as its own subtest.
var tests = []test{
	{"ValidationMatchesSQLite", testValidationMatchesSQLite},
	{"Retry", testRetry},
	{"RetryRespectsUniqueKeys", testRetryRespectsUniqueKeys},
	{"RetryFailedByJobInBatches", testRetryFailedByJobInBatches},
	{"EnqueueManyBadTaskAddsNothing", testEnqueueManyBadTaskAddsNothing},
	{"Cancel", testCancel},
	{"EnqueueAndGet", testEnqueueAndGet},
	{"EnqueueRejectsBadInput", testEnqueueRejectsBadInput},
	{"EnqueueMany", testEnqueueMany},
	{"ClaimOrderAndDueness", testClaimOrderAndDueness},
	{"Outcomes", testOutcomes},
	{"OutcomeFromOtherWorkerIsStale", testOutcomeFromOtherWorkerIsStale},
	{"ExpiredLeaseCountsAnAttempt", testExpiredLeaseCountsAnAttempt},
	{"ExpiredLeaseOfRowWithFinishTime", testExpiredLeaseOfRowWithFinishTime},
	{"ClaimLeavesOutOversizePayloads", testClaimLeavesOutOversizePayloads},
	{"Ping", testPing},
	{"ListGroupsAndStatus", testListGroupsAndStatus},
	{"OutcomeProcessStats", testOutcomeProcessStats},
	{"Prune", testPrune},
	{"PruneRefusesActiveStates", testPruneRefusesActiveStates},
	{"ScheduleCRUD", testScheduleCRUD},
	{"ScheduleFirstRun", testScheduleFirstRun},
	{"CatchUpAfterAnHour", testCatchUpAfterAnHour},
	{"FireDueConcurrently", testFireDueConcurrently},
	{"NoOverlap", testNoOverlap},
	{"Repeats", testRepeats},
	{"PauseResumeSkipsMissed", testPauseResumeSkipsMissed},
	{"SyncSchedules", testSyncSchedules},
	{"NextWakeupAndEnqueued", testNextWakeupAndEnqueued},
	{"UnknownZone", testUnknownZone},
	{"NextWakeupAcrossPriorities", testNextWakeupAcrossPriorities},
	{"StartInGapKeepsClock", testStartInGapKeepsClock},
	{"Stats", testStats},
	{"UniqueKeyReturnsTheActiveTask", testUniqueKeyReturnsTheActiveTask},
	{"EnqueueManyWithUniqueKeys", testEnqueueManyWithUniqueKeys},
	{"UniqueKeyUnderConcurrency", testUniqueKeyUnderConcurrency},
	{"UniqueKeyIsEnforcedByTheDatabase", testUniqueKeyIsEnforcedByTheDatabase},
	{"Wait", testWait},
}
