// Package metrics exposes what Sluice does in the Prometheus text format:
// over HTTP for a long-running worker, or in a file for node_exporter's
// textfile collector after a one-shot drain.
package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/worker"
)

// Outcome label values of sluice_tasks_total.
const (
	OutcomeSucceeded = "succeeded"
	OutcomeFailed    = "failed"    // the task ended failed
	OutcomeRetried   = "retried"   // the attempt failed; the task runs again later
	OutcomeReleased  = "released"  // put back unstarted or unfinished at shutdown
	OutcomeCancelled = "cancelled" // the task ended cancelled
	OutcomeStale     = "stale"     // not written: another worker had taken the task over
)

// DefaultStatsTimeout bounds the database read behind the queue gauges.
const DefaultStatsTimeout = 5 * time.Second

// Stats is what the queue gauges read at scrape time; *queue.Store has it.
type Stats interface {
	Stats(ctx context.Context) ([]queue.QueueStats, error)
}

// NewOpts tunes New.
type NewOpts struct {
	// StatsTimeout bounds the read of queue stats at each scrape.
	// Default DefaultStatsTimeout.
	StatsTimeout time.Duration
	// MaxLabelValues bounds the distinct values of the job, queue and
	// schedule labels; the rest are counted as OtherLabel.
	// Default DefaultMaxLabelValues.
	MaxLabelValues int
}

// Metrics holds Sluice's metrics. Its methods are safe for concurrent use.
type Metrics struct {
	reg       *prometheus.Registry
	tasks     *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	recovered prometheus.Counter
	schedules *prometheus.CounterVec
	leftover  *prometheus.CounterVec
	peakRSS   *prometheus.HistogramVec

	// Producers choose job, queue and schedule names: each label takes at
	// most MaxLabelValues of them.
	jobs, queues, scheduleNames *limiter
	maxLabelValues              int
}

// DurationBuckets are the upper bounds, in seconds, of the task duration
// histogram: 1 ms to about 4 minutes, each four times the one before, so
// both millisecond handlers and the default 120 s timeout fall inside.
var DurationBuckets = prometheus.ExponentialBuckets(0.001, 4, 10)

// PeakRSSBuckets are the upper bounds, in bytes, of the peak memory
// histogram of supervised attempts: 4 MiB to 16 GiB, each twice the one
// before (a headless browser's tree takes about 1 GiB).
var PeakRSSBuckets = prometheus.ExponentialBuckets(4<<20, 2, 13)

// New returns the metrics, with queue gauges read from stats at each
// gather. stats may be nil to leave the gauges out.
func New(stats Stats, opts NewOpts) *Metrics {
	if opts.StatsTimeout <= 0 {
		opts.StatsTimeout = DefaultStatsTimeout
	}
	if opts.MaxLabelValues <= 0 {
		opts.MaxLabelValues = DefaultMaxLabelValues
	}
	m := &Metrics{
		jobs:           newLimiter(opts.MaxLabelValues),
		queues:         newLimiter(opts.MaxLabelValues),
		scheduleNames:  newLimiter(opts.MaxLabelValues),
		maxLabelValues: opts.MaxLabelValues,
		reg:            prometheus.NewRegistry(),
		tasks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_tasks_total",
			Help: "Attempts whose outcome was recorded, by job, queue and outcome (succeeded, failed, retried, released, cancelled, stale).",
		}, []string{"job", "queue", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sluice_task_duration_seconds",
			Help:    "Duration of attempts that ran to success or failure, by job.",
			Buckets: DurationBuckets,
		}, []string{"job"}),
		recovered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_tasks_recovered_total",
			Help: "Running tasks taken back from dead workers (heartbeat stale, or lease expired for claims without heartbeats).",
		}),
		schedules: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_schedules_fired_total",
			Help: "Tasks enqueued by schedules, by schedule.",
		}, []string{"schedule"}),
	}
	m.leftover = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_task_leftover_processes_total",
		Help: "Processes still alive when a supervised attempt's command ended, which its supervisor killed, by job.",
	}, []string{"job"})
	m.peakRSS = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "sluice_task_peak_rss_bytes",
		Help:    "Largest resident set of any process of a supervised attempt (exec jobs, process-isolated handlers), by job.",
		Buckets: PeakRSSBuckets,
	}, []string{"job"})
	m.reg.MustRegister(m.tasks, m.duration, m.recovered, m.schedules, m.leftover, m.peakRSS)
	if stats != nil {
		m.reg.MustRegister(&queueCollector{stats: stats, timeout: opts.StatsTimeout, queues: m.queues})
	}
	return m
}

// Gatherer returns the registry holding Sluice's metrics, for callers that
// serve or push them their own way.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.reg }

// Observe counts one write of outcomes; pass it as worker.Options.OnOutcomes.
func (m *Metrics) Observe(r worker.Report) {
	if r.Recovered > 0 {
		m.recovered.Add(float64(r.Recovered))
	}
	for _, d := range r.Done {
		outcome := outcomeLabel(d)
		job := m.jobs.value(d.Job)
		m.tasks.WithLabelValues(job, m.queues.value(d.Queue), outcome).Inc()
		if outcome == OutcomeSucceeded || outcome == OutcomeFailed || outcome == OutcomeRetried {
			m.duration.WithLabelValues(job).Observe(d.Outcome.Duration.Seconds())
		}
		if p := d.Outcome.Processes; p != nil {
			m.leftover.WithLabelValues(job).Add(float64(p.Leftover))
			m.peakRSS.WithLabelValues(job).Observe(float64(p.PeakRSS))
		}
	}
}

// ScheduleFired counts one task enqueued by the schedule called name.
func (m *Metrics) ScheduleFired(name string) {
	m.schedules.WithLabelValues(m.scheduleNames.value(name)).Inc()
}

// Fired counts the tasks that one queue.Store.FireDue enqueued, one per
// due time fired; pass it as worker.RunOpts.OnFirings.
func (m *Metrics) Fired(firings []queue.Firing) {
	for _, f := range firings {
		if n := len(f.TaskIDs); n > 0 {
			m.schedules.WithLabelValues(m.scheduleNames.value(f.Schedule)).Add(float64(n))
		}
	}
}

func outcomeLabel(d worker.Done) string {
	if d.Stale {
		return OutcomeStale
	}
	switch d.Outcome.Kind {
	case queue.Succeed:
		return OutcomeSucceeded
	case queue.Fail:
		if d.Outcome.RetryAt.IsZero() {
			return OutcomeFailed
		}
		return OutcomeRetried
	case queue.Release:
		return OutcomeReleased
	case queue.Cancel:
		return OutcomeCancelled
	}
	return "unknown"
}

// queueCollector reads the backlog of each queue from the database when
// the metrics are gathered, so the gauges are never stale.
type queueCollector struct {
	stats   Stats
	timeout time.Duration
	queues  *limiter
}

var (
	depthDesc = prometheus.NewDesc("sluice_queue_depth",
		"Queued tasks that are due and waiting for a worker.", []string{"queue"}, nil)
	scheduledDesc = prometheus.NewDesc("sluice_queue_scheduled",
		"Queued tasks not due yet (delayed, or waiting to be retried).", []string{"queue"}, nil)
	runningDesc = prometheus.NewDesc("sluice_queue_running",
		"Tasks held by a worker.", []string{"queue"}, nil)
	oldestDesc = prometheus.NewDesc("sluice_queue_oldest_wait_seconds",
		"How long the longest-waiting due task has waited past its run_at; 0 when none is due.", []string{"queue"}, nil)
)

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- depthDesc
	ch <- scheduledDesc
	ch <- runningDesc
	ch <- oldestDesc
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	stats, err := c.stats.Stats(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(depthDesc, err)
		return
	}
	// Queues past the label bound are added together as OtherLabel.
	var order []string
	byLabel := map[string]*queue.QueueStats{}
	for _, s := range stats {
		label := c.queues.value(s.Queue)
		sum, ok := byLabel[label]
		if !ok {
			sum = &queue.QueueStats{Queue: label}
			byLabel[label] = sum
			order = append(order, label)
		}
		sum.Due += s.Due
		sum.Scheduled += s.Scheduled
		sum.Running += s.Running
		sum.Wait = max(sum.Wait, s.Wait)
	}
	for _, label := range order {
		s := byLabel[label]
		ch <- prometheus.MustNewConstMetric(depthDesc, prometheus.GaugeValue, float64(s.Due), s.Queue)
		ch <- prometheus.MustNewConstMetric(scheduledDesc, prometheus.GaugeValue, float64(s.Scheduled), s.Queue)
		ch <- prometheus.MustNewConstMetric(runningDesc, prometheus.GaugeValue, float64(s.Running), s.Queue)
		ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, s.Wait.Seconds(), s.Queue)
	}
}
