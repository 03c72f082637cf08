package metrics

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// WriteFile writes the metrics in the text format to path for
// node_exporter's textfile collector (which reads *.prom files), replacing
// it atomically: a temporary file in the same folder, then a rename, so a
// scrape never sees half a file.
//
// Each drain is a new process whose counters start at zero, so WriteFile
// adds the counters and histograms already in the file to its own: the
// file's counters keep growing from drain to drain, as Prometheus expects,
// and start again only if the file is deleted. Gauges are replaced. A file
// that does not parse is left alone and reported, rather than overwritten.
func (m *Metrics) WriteFile(path string) error {
	cur, gatherErr := m.reg.Gather()
	prev, err := readFile(path)
	if err != nil {
		return errors.Join(err, gatherErr)
	}
	foldFile(cur, prev, m.maxLabelValues)
	var buf bytes.Buffer
	for _, f := range merge(prev, cur) {
		if _, err := expfmt.MetricFamilyToText(&buf, f); err != nil {
			return fmt.Errorf("write metrics file %s: %w", path, err)
		}
	}
	if err := writeAtomic(path, buf.Bytes()); err != nil {
		return fmt.Errorf("write metrics file %s: %w", path, err)
	}
	if gatherErr != nil {
		return fmt.Errorf("write metrics file %s: some metrics are missing: %w", path, gatherErr)
	}
	return nil
}

// readFile parses a metrics file written before; a missing file is empty.
func readFile(path string) (map[string]*dto.MetricFamily, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read previous metrics file: %w", err)
	}
	defer f.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(f)
	if err != nil {
		return nil, fmt.Errorf("read previous metrics file %s (left unchanged; delete it to start the counters afresh): %w", path, err)
	}
	return families, nil
}

// merge returns cur with prev's counters and histograms added to it, sorted
// by name. Series only in prev are carried over; gauges come from cur alone.
func merge(prev map[string]*dto.MetricFamily, cur []*dto.MetricFamily) []*dto.MetricFamily {
	byName := make(map[string]*dto.MetricFamily, len(cur))
	for _, f := range cur {
		byName[f.GetName()] = f
	}
	for name, p := range prev {
		if t := p.GetType(); t != dto.MetricType_COUNTER && t != dto.MetricType_HISTOGRAM {
			continue
		}
		c, ok := byName[name]
		if !ok {
			byName[name] = p
			continue
		}
		if c.GetType() != p.GetType() {
			continue // the metric changed type: its old values mean nothing now
		}
		index := make(map[string]*dto.Metric, len(c.Metric))
		for _, m := range c.Metric {
			index[signature(m)] = m
		}
		for _, pm := range p.Metric {
			cm, ok := index[signature(pm)]
			if !ok {
				c.Metric = append(c.Metric, pm)
				continue
			}
			add(cm, pm)
		}
	}
	out := make([]*dto.MetricFamily, 0, len(byName))
	for _, f := range byName {
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
	return out
}

// signature identifies a series by its sorted labels.
func signature(m *dto.Metric) string {
	pairs := make([]string, 0, len(m.Label))
	for _, l := range m.Label {
		pairs = append(pairs, l.GetName()+"\xff"+l.GetValue())
	}
	slices.Sort(pairs)
	return strings.Join(pairs, "\xfe")
}

// add adds prev's value into cur, for counters and histograms.
func add(cur, prev *dto.Metric) {
	if cur.Counter != nil && prev.Counter != nil {
		cur.Counter.Value = ptr(cur.Counter.GetValue() + prev.Counter.GetValue())
		return
	}
	ch, ph := cur.Histogram, prev.Histogram
	if ch == nil || ph == nil {
		return
	}
	// The parser keeps the +Inf bucket; the registry leaves it implied.
	pb := slices.DeleteFunc(slices.Clone(ph.Bucket), func(b *dto.Bucket) bool { return math.IsInf(b.GetUpperBound(), 1) })
	if len(pb) != len(ch.Bucket) {
		return // the buckets changed: keep this run's only
	}
	for i, b := range ch.Bucket {
		if b.GetUpperBound() != pb[i].GetUpperBound() {
			return
		}
	}
	for i, b := range ch.Bucket {
		b.CumulativeCount = ptr(b.GetCumulativeCount() + pb[i].GetCumulativeCount())
	}
	ch.SampleCount = ptr(ch.GetSampleCount() + ph.GetSampleCount())
	ch.SampleSum = ptr(ch.GetSampleSum() + ph.GetSampleSum())
}

func ptr[T any](v T) *T { return &v }

// writeAtomic replaces path with data through a temporary file in the same
// folder, readable by all (node_exporter runs as its own user).
func writeAtomic(path string, data []byte) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	// Not ending in .prom: the collector must not read it half-written.
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
