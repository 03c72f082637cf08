package queue

import (
	"context"
	"time"
)

// Backend is the task store's contract: what the worker, the command line,
// the metrics and the web pages use, in one place. *Store (SQLite, this package) and
// *pgqueue.Store (PostgreSQL) both implement it, each with the meaning its
// method documents on *Store; both packages assert it at compile time.
//
// Transactional enqueues (EnqueueTx and its twins) are not here: each takes
// its engine's transaction type.
type Backend interface {
	// Close releases the database.
	Close() error
	// Ping checks that the database answers (health checks).
	Ping(ctx context.Context) error

	// Enqueue adds a task and returns its id.
	Enqueue(ctx context.Context, p EnqueueParams) (int64, error)
	// EnqueueMany adds tasks in one transaction.
	EnqueueMany(ctx context.Context, ps []EnqueueParams) ([]int64, error)
	// EnqueueUnique adds a task unless its unique key is held.
	EnqueueUnique(ctx context.Context, p EnqueueParams) (Enqueued, error)
	// EnqueueManyUnique is EnqueueMany with unique keys.
	EnqueueManyUnique(ctx context.Context, ps []EnqueueParams) ([]Enqueued, error)
	// Enqueued returns a channel closed when this process adds tasks (or,
	// on PostgreSQL, any process does).
	Enqueued() <-chan struct{}

	// Exchange writes outcomes, heartbeats, takes back dead workers' tasks
	// and claims, in one transaction.
	Exchange(ctx context.Context, outcomes []Outcome, p ClaimParams) (ExchangeResult, error)
	// Register records a live worker; Exchange heartbeats it.
	Register(ctx context.Context, w WorkerInfo) error
	// Unregister removes a worker, returning what it still held to the queue.
	Unregister(ctx context.Context, id string, defaultMaxAttempts int) (int, error)
	// Workers lists the registered workers with the tasks each holds.
	Workers(ctx context.Context) ([]WorkerInfo, error)
	// CancelledAmong returns which of ids an operator cancelled.
	CancelledAmong(ctx context.Context, ids []int64) ([]int64, error)
	// CountRemaining counts what a drain has left (progress reports).
	CountRemaining(ctx context.Context, queues []string, worker string) (int, error)
	// NextWakeup returns when a run loop next has something to do; zero
	// when nothing is pending.
	NextWakeup(ctx context.Context, queues []string) (time.Time, error)
	// FireDue fires every due schedule, once per due time.
	FireDue(ctx context.Context) ([]Firing, error)
	// Prune removes finished tasks in st past k, in batches.
	Prune(ctx context.Context, st State, k Keep, batch int) (Pruned, error)

	// Get returns one task; ErrNotFound when there is none.
	Get(ctx context.Context, id int64) (Task, error)
	// Wait returns a task once it is final.
	Wait(ctx context.Context, id int64, opts WaitOpts) (Task, error)
	// List returns tasks by filter.
	List(ctx context.Context, p ListParams) ([]Task, error)
	// Groups summarizes groups of tasks.
	Groups(ctx context.Context, name string) ([]GroupSummary, error)
	// Status is the queue at a glance.
	Status(ctx context.Context) (Status, error)
	// Stats is the per-queue backlog (metrics gauges).
	Stats(ctx context.Context) ([]QueueStats, error)
	// Counts counts tasks by state.
	Counts(ctx context.Context) (map[State]int, error)
	// Retry puts finished tasks back to queued, all or nothing.
	Retry(ctx context.Context, ids []int64) error
	// RetryFailed puts failed tasks of job (all when empty) back.
	RetryFailed(ctx context.Context, job string) (RetryResult, error)
	// RetryFailedDryRun says what RetryFailed would do, changing nothing.
	RetryFailedDryRun(ctx context.Context, job string) (RetryResult, error)
	// Cancel ends queued or running tasks, all or nothing.
	Cancel(ctx context.Context, ids []int64) (map[int64]State, error)
	// PruneDryRun counts what Prune would remove, removing nothing.
	PruneDryRun(ctx context.Context, st State, k Keep) (int, error)

	// Schedules.
	AddSchedule(ctx context.Context, p ScheduleParams) (Schedule, error)
	GetSchedule(ctx context.Context, name string) (Schedule, error)
	ListSchedules(ctx context.Context) ([]Schedule, error)
	RemoveSchedule(ctx context.Context, name string) error
	PauseSchedule(ctx context.Context, name string) error
	ResumeSchedule(ctx context.Context, name string) (Schedule, error)
	// SyncSchedules makes the declared schedules (SLUICE_SCHEDULES) so.
	SyncSchedules(ctx context.Context, ps []ScheduleParams) (SyncResult, error)

	// The operator's reads (the web pages): each walks the index that holds
	// what it shows, so its cost follows the page, the backlog or the recent
	// past, never the whole finished history.

	// Overview is the backlog, recent throughput and failures, and running
	// tasks, in one snapshot.
	Overview(ctx context.Context) (Overview, error)
	// Failures returns a page of failed tasks, newest first, filtered.
	Failures(ctx context.Context, p FailureParams) (Page, error)
	// FailureGroups groups the latest failures by their error's first line.
	FailureGroups(ctx context.Context, since time.Time, sample int) ([]FailureGroup, int, error)
	// FailedIDs returns the ids of every failed task p selects (retry of a group).
	FailedIDs(ctx context.Context, p FailureParams) ([]int64, error)
	// TasksPage returns a page of tasks in one state, in that state's order.
	TasksPage(ctx context.Context, st State, after Cursor, limit int) (Page, error)

	// The operator's actions beside Retry, Cancel and the schedules'.

	// RunSchedule adds one task of a schedule now, leaving its next run.
	RunSchedule(ctx context.Context, name string) (int64, error)
	// PurgeGroup deletes (or ungroups) the finished tasks of a group.
	PurgeGroup(ctx context.Context, group string, ungroup, dryRun bool) (int, error)
}

var _ Backend = (*Store)(nil)
