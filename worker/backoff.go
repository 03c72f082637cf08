package worker

import (
	"math/rand/v2"
	"time"
)

// Backoff computes how long a failed task waits before its next attempt.
type Backoff struct {
	Base time.Duration // the delay after the first failed attempt, before jitter
	Max  time.Duration // the cap, before jitter
	// Rand returns a number in [0, 1); tests inject one. Default math/rand/v2.
	Rand func() float64
}

// Delay returns the wait after failed attempt n (1 for the first):
// d = min(Max, Base·2^(n-1)), then a uniformly random point in [d/2, d]
// ("equal jitter"), so retries of tasks that failed together spread out
// while each still waits at least half the nominal delay.
func (b Backoff) Delay(n int) time.Duration {
	d := b.Base
	for i := 1; i < n && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	r := b.Rand
	if r == nil {
		r = rand.Float64
	}
	half := d / 2
	return half + time.Duration(r()*float64(d-half))
}
