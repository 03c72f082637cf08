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

// Harness is what the suite needs of a store; every field is required.
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
}

// test is one subtest of the suite.
type test struct {
	name string
	fn   func(t *testing.T, h *Harness)
}

// Run runs the suite, each subtest in parallel on its own database.
func Run(t *testing.T, h Harness) {
	if h.Open == nil || h.Again == nil || h.SQL == nil {
		t.Fatal("queuetest: Harness needs Open, Again and SQL")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, &h)
		})
	}
}

// open returns a fresh store on clk.
func (h *Harness) open(t testing.TB, clk *clock) queue.Backend {
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

// clock is a settable time source: tests move time instead of waiting.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// MustEnqueue enqueues p, failing tb on an error. Like Exchange, IDs and
// Finish, it serves the stores' own tests too.
func MustEnqueue(tb testing.TB, s queue.Backend, p queue.EnqueueParams) int64 {
	tb.Helper()
	id, err := s.Enqueue(context.Background(), p)
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

// Exchange runs one exchange, failing tb on an error.
func Exchange(tb testing.TB, s queue.Backend, outcomes []queue.Outcome, p queue.ClaimParams) queue.ExchangeResult {
	tb.Helper()
	res, err := s.Exchange(context.Background(), outcomes, p)
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

// IDs returns the tasks' ids in order.
func IDs(ts []queue.Task) []int64 {
	var out []int64
	for _, t := range ts {
		out = append(out, t.ID)
	}
	return out
}

// Finish claims every due task as worker w1 and gives each the outcome
// kinds[id] (Succeed when missing).
func Finish(tb testing.TB, s queue.Backend, kinds map[int64]queue.Kind) {
	tb.Helper()
	p := params
	p.Limit = 1000
	var outs []queue.Outcome
	for _, t := range Exchange(tb, s, nil, p).Claimed {
		outs = append(outs, queue.Outcome{ID: t.ID, Attempt: t.Attempt, Kind: kinds[t.ID], Error: "boom", Duration: time.Second})
	}
	Exchange(tb, s, outs, queue.ClaimParams{Worker: p.Worker})
}

// params claims up to 10 tasks as worker w1.
var params = queue.ClaimParams{
	Worker: "w1", Limit: 10, DefaultTimeout: time.Minute, DefaultMaxAttempts: 3, LeaseMargin: 30 * time.Second,
}

// The moved tests' words for the helpers.
var (
	mustEnqueue = MustEnqueue
	exchange    = Exchange
	ids         = IDs
	finish      = Finish
)

// tests lists the suite, grouped as queue.Backend is; each runs as its own
// subtest.
var tests = []test{
	// Enqueue: what is stored, what is refused, batches.
	{"EnqueueAndGet", testEnqueueAndGet},
	{"EnqueueRejectsBadInput", testEnqueueRejectsBadInput},
	{"ValidationMatchesSQLite", testValidationMatchesSQLite},
	{"EnqueueMany", testEnqueueMany},
	{"EnqueueManyBadTaskAddsNothing", testEnqueueManyBadTaskAddsNothing},
	{"Ping", testPing},

	// Unique keys.
	{"UniqueKeyReturnsTheActiveTask", testUniqueKeyReturnsTheActiveTask},
	{"EnqueueManyWithUniqueKeys", testEnqueueManyWithUniqueKeys},
	{"UniqueKeyUnderConcurrency", testUniqueKeyUnderConcurrency},
	{"UniqueKeyIsEnforcedByTheDatabase", testUniqueKeyIsEnforcedByTheDatabase},

	// Exchange: claim order, outcomes, leases.
	{"ClaimOrderAndDueness", testClaimOrderAndDueness},
	{"ClaimOrderWithinAPriority", testClaimOrderWithinAPriority},
	{"Outcomes", testOutcomes},
	{"OutcomeFromOtherWorkerIsStale", testOutcomeFromOtherWorkerIsStale},
	{"OutcomeProcessStats", testOutcomeProcessStats},
	{"ExpiredLeaseCountsAnAttempt", testExpiredLeaseCountsAnAttempt},
	{"ExpiredLeaseOfRowWithFinishTime", testExpiredLeaseOfRowWithFinishTime},
	{"ClaimLeavesOutOversizePayloads", testClaimLeavesOutOversizePayloads},

	// Operators: cancel, retry, retention.
	{"Cancel", testCancel},
	{"Retry", testRetry},
	{"RetryRespectsUniqueKeys", testRetryRespectsUniqueKeys},
	{"RetryFailedByJobInBatches", testRetryFailedByJobInBatches},
	{"Prune", testPrune},
	{"PruneRefusesActiveStates", testPruneRefusesActiveStates},

	// Workers: registrations, heartbeats, dead workers' tasks taken back.
	{"LiveWorkerKeepsItsTasks", testLiveWorkerKeepsItsTasks},
	{"DeadWorkerTasksComeBack", testDeadWorkerTasksComeBack},
	{"RecoveriesAreBounded", testRecoveriesAreBounded},
	{"UnregisterReturnsHeldTasks", testUnregisterReturnsHeldTasks},
	{"RegisterRefusesATakenID", testRegisterRefusesATakenID},
	{"WorkersListsRegistrations", testWorkersListsRegistrations},
	{"LeaselessRunningRowsOfNoWorkerComeBack", testLeaselessRunningRowsOfNoWorkerComeBack},
	{"NextWakeupAtStaleHeartbeat", testNextWakeupAtStaleHeartbeat},

	// Follow-up tasks: chains and hooks.
	{"FollowUpsAfterSuccess", testFollowUpsAfterSuccess},
	{"FollowUpsHookGetsTextResult", testFollowUpsHookGetsTextResult},
	{"FollowUpsAfterFailureAndCancel", testFollowUpsAfterFailureAndCancel},
	{"FollowUpsShareTheOutcomeTransaction", testFollowUpsShareTheOutcomeTransaction},
	{"FollowUpsToleratesBadColumn", testFollowUpsToleratesBadColumn},
	{"FollowUpsAfterTakeBack", testFollowUpsAfterTakeBack},
	{"FollowUpsInBatches", testFollowUpsInBatches},
	{"PurgeGroup", testPurgeGroup},

	// Reads.
	{"ListGroupsAndStatus", testListGroupsAndStatus},
	{"Stats", testStats},
	{"Wait", testWait},

	// The operator's reads (the web pages).
	{"Failures", testFailures},
	{"FailureGroups", testFailureGroups},
	{"TasksPage", testTasksPage},
	{"Overview", testOverview},

	// Schedules.
	{"ScheduleCRUD", testScheduleCRUD},
	{"ScheduleFirstRun", testScheduleFirstRun},
	{"CatchUpAfterAnHour", testCatchUpAfterAnHour},
	{"FireDueConcurrently", testFireDueConcurrently},
	{"NoOverlap", testNoOverlap},
	{"Repeats", testRepeats},
	{"PauseResumeSkipsMissed", testPauseResumeSkipsMissed},
	{"SyncSchedules", testSyncSchedules},
	{"SyncBesideFireDue", testSyncBesideFireDue},
	{"NextWakeupAndEnqueued", testNextWakeupAndEnqueued},
	{"UnknownZone", testUnknownZone},
	{"NextWakeupAcrossPriorities", testNextWakeupAcrossPriorities},
	{"StartInGapKeepsClock", testStartInGapKeepsClock},
	{"RunSchedule", testRunSchedule},
}
