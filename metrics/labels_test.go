package metrics_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicehq/sluice/metrics"
	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/worker"
)

// manyNames reports one succeeded task for each of n jobs and queues named from prefix.
func manyNames(m *metrics.Metrics, prefix string, n int) {
	var r worker.Report
	for i := range n {
		name := fmt.Sprintf("%s%d", prefix, i)
		r.Done = append(r.Done, worker.Done{Job: name, Queue: name, Outcome: queue.Outcome{Kind: queue.Succeed, Duration: time.Millisecond}})
	}
	m.Observe(r)
}

type manyQueues int

func (n manyQueues) Stats(context.Context) ([]queue.QueueStats, error) {
	var out []queue.QueueStats
	for i := range int(n) {
		out = append(out, queue.QueueStats{Queue: fmt.Sprintf("q%d", i), Due: 1, Wait: time.Duration(i) * time.Second})
	}
	return out, nil
}

// labelValues counts the series of a family by the value of one label, and sums them.
func labelValues(t *testing.T, m *metrics.Metrics, family, label string) (map[string]bool, float64) {
	t.Helper()
	fams, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	values, sum := map[string]bool{}, 0.0
	for _, f := range fams {
		if f.GetName() != family {
			continue
		}
		for _, s := range f.Metric {
			for _, l := range s.Label {
				if l.GetName() == label {
					values[l.GetValue()] = true
				}
			}
			sum += s.GetCounter().GetValue() + s.GetGauge().GetValue()
		}
	}
	return values, sum
}

func TestLabelValuesAreBounded(t *testing.T) {
	m := metrics.New(manyQueues(50), metrics.NewOpts{MaxLabelValues: 5})
	manyNames(m, "job", 1000)
	for _, label := range []string{"job", "queue"} {
		values, sum := labelValues(t, m, "sluice_tasks_total", label)
		if len(values) != 6 || !values[metrics.OtherLabel] || !values["job0"] || sum != 1000 {
			t.Errorf("sluice_tasks_total by %s: %d values %v, sum %v; want the first 5 and %q, 1000 in all",
				label, len(values), values, sum, metrics.OtherLabel)
		}
	}
	if values, _ := labelValues(t, m, "sluice_task_duration_seconds", "job"); len(values) != 6 {
		t.Errorf("sluice_task_duration_seconds: %d job values; want 6", len(values))
	}
	// The gauges share the queue label's values with the counters: here
	// the counters took them all.
	if values, sum := labelValues(t, m, "sluice_queue_depth", "queue"); len(values) != 1 || sum != 50 {
		t.Errorf("sluice_queue_depth: queue values %v, sum %v; want %q alone, 50 in all", values, sum, metrics.OtherLabel)
	}
	values, sum := labelValues(t, metrics.New(manyQueues(50), metrics.NewOpts{MaxLabelValues: 5}), "sluice_queue_depth", "queue")
	if len(values) != 6 || !values[metrics.OtherLabel] || sum != 50 {
		t.Errorf("sluice_queue_depth: %d queue values %v, sum %v; want 6, 50 in all", len(values), values, sum)
	}
	for i := range 20 {
		m.ScheduleFired(fmt.Sprint("s", i))
	}
	if values, sum := labelValues(t, m, "sluice_schedules_fired_total", "schedule"); len(values) != 6 || sum != 20 {
		t.Errorf("sluice_schedules_fired_total: %d schedule values, sum %v; want 6, 20", len(values), sum)
	}
}

// TestLabelValuesAreBoundedAcrossDrains: each drain's limiter starts afresh,
// and the metrics file still keeps to the bound.
func TestLabelValuesAreBoundedAcrossDrains(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sluice.prom")
	for drain := range 4 {
		m := metrics.New(nil, metrics.NewOpts{MaxLabelValues: 5})
		manyNames(m, fmt.Sprint("d", drain, "-"), 10)
		if err := m.WriteFile(path); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fams := parse(t, bytes.NewReader(data))
	jobs, sum := map[string]bool{}, 0.0
	for _, s := range fams["sluice_tasks_total"].Metric {
		for _, l := range s.Label {
			if l.GetName() == "job" {
				jobs[l.GetValue()] = true
			}
		}
		sum += s.GetCounter().GetValue()
	}
	if len(jobs) != 6 || sum != 40 {
		t.Errorf("file: %d job values %v, sum %v; want 6, 40 tasks in all", len(jobs), jobs, sum)
	}
}
