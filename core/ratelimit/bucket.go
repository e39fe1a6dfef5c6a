// Package ratelimit is the broker's token bucket: a peer may do something
// burst times at once and rate times a second after that.
package ratelimit

import "time"

// Bucket is a token bucket. It is a value with no lock: its owner either
// uses it from one goroutine (the coordinator's per-socket read loop) or
// guards it with its own mutex.
type Bucket struct {
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   time.Time
}

// New returns a full bucket that refills at rate tokens a second up to
// burst.
func New(rate, burst float64, now time.Time) Bucket {
	return Bucket{rate: rate, burst: burst, tokens: burst, last: now}
}

// Allow takes one token if there is one. A clock that steps back refills
// nothing until it has caught up again, so no interval is counted twice.
func (b *Bucket) Allow(now time.Time) bool {
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = min(b.burst, b.tokens+elapsed.Seconds()*b.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
