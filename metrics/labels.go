package metrics

import (
	"slices"
	"sync"

	dto "github.com/prometheus/client_model/go"
)

// DefaultMaxLabelValues bounds the distinct values of each of the job,
// queue and schedule labels. Every value makes its own series (a histogram
// makes a dozen), and names come from whoever enqueues: one job or queue
// name per task made one series per task.
const DefaultMaxLabelValues = 100

// OtherLabel stands for every value of a label past the bound: the first
// values seen keep their own series, later ones are counted together here.
const OtherLabel = "other"

// boundedLabels are the labels whose values come from producers.
var boundedLabels = []string{"job", "queue", "schedule"}

// limiter hands out at most max distinct values of one label.
type limiter struct {
	mu   sync.Mutex
	max  int
	seen map[string]bool
}

func newLimiter(max int) *limiter { return &limiter{max: max, seen: map[string]bool{}} }

// value returns v while v is among the first max values seen, else OtherLabel.
func (l *limiter) value(v string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen[v] {
		return v
	}
	if len(l.seen) >= l.max {
		return OtherLabel
	}
	l.seen[v] = true
	return v
}

// foldFile keeps a metrics file within the bound across drains, each of
// which starts with fresh limiters: a counter or histogram series of this
// drain whose bounded label has a value the file does not know yet, once
// the file and this drain know max values, is added to the OtherLabel series.
func foldFile(cur []*dto.MetricFamily, prev map[string]*dto.MetricFamily, max int) {
	for _, name := range boundedLabels {
		allowed := map[string]bool{OtherLabel: true}
		for _, f := range prev {
			for _, m := range f.Metric {
				if v, ok := labelValue(m, name); ok {
					allowed[v] = true
				}
			}
		}
		for _, f := range cur {
			for _, m := range f.Metric {
				if v, ok := labelValue(m, name); ok && !allowed[v] && len(allowed) <= max {
					allowed[v] = true
				}
			}
		}
		for _, f := range cur {
			if t := f.GetType(); t != dto.MetricType_COUNTER && t != dto.MetricType_HISTOGRAM {
				continue
			}
			f.Metric = foldFamily(f.Metric, name, allowed)
		}
	}
}

// foldFamily relabels the series whose label name has a value outside
// allowed to OtherLabel, adding together the series that then coincide.
func foldFamily(ms []*dto.Metric, name string, allowed map[string]bool) []*dto.Metric {
	index := map[string]*dto.Metric{}
	for _, m := range ms {
		index[signature(m)] = m
	}
	return slices.DeleteFunc(ms, func(m *dto.Metric) bool {
		v, ok := labelValue(m, name)
		if !ok || allowed[v] {
			return false
		}
		for _, l := range m.Label {
			if l.GetName() == name {
				l.Value = ptr(OtherLabel)
			}
		}
		if into, ok := index[signature(m)]; ok && into != m {
			add(into, m)
			return true
		}
		index[signature(m)] = m
		return false
	})
}

func labelValue(m *dto.Metric, name string) (string, bool) {
	for _, l := range m.Label {
		if l.GetName() == name {
			return l.GetValue(), true
		}
	}
	return "", false
}
