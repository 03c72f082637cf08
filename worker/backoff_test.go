package worker_test

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice/worker"
)

func TestBackoffDelay(t *testing.T) {
	tests := []struct {
		attempt int
		rand    float64
		want    time.Duration
	}{
		{1, 0, 5 * time.Second}, // base 10s, jitter at the bottom: half
		{1, 0.5, 7500 * time.Millisecond},
		{2, 0, 10 * time.Second}, // 20s nominal
		{3, 0.999999999, 40 * time.Second},
		{10, 0, 30 * time.Minute}, // capped at 1h nominal
		{100, 0, 30 * time.Minute},
	}
	for _, tt := range tests {
		b := worker.Backoff{Base: 10 * time.Second, Max: time.Hour, Rand: func() float64 { return tt.rand }}
		got := b.Delay(tt.attempt).Round(time.Millisecond)
		if got != tt.want {
			t.Errorf("Delay(%d) with rand %v = %s; want %s", tt.attempt, tt.rand, got, tt.want)
		}
	}
}
