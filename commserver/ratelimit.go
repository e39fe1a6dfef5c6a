package commserver

import (
	"sync"
	"time"
)

// errorLimiter is a token bucket that caps the ERROR messages a peer is sent
// for things it keeps doing (dropped publishes, protocol violations), so that
// a client flooding a policy-governed topic does not get a flood back.
//
// mu guards tokens and last; both read loops of a peer share one limiter.
type errorLimiter struct {
	mu     sync.Mutex
	tokens float64
	last   time.Time

	rate  float64 // tokens per second
	burst float64
	now   func() time.Time
}

// Per peer: a burst of a few ERRORs, then a few per second.
const (
	errorRate  = 2
	errorBurst = 5
)

func newErrorLimiter(now func() time.Time) *errorLimiter {
	if now == nil {
		now = time.Now
	}
	return &errorLimiter{tokens: errorBurst, last: now(), rate: errorRate, burst: errorBurst, now: now}
}

// allow takes a token if there is one.
func (l *errorLimiter) allow() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if elapsed := now.Sub(l.last); elapsed > 0 {
		l.tokens = min(l.burst, l.tokens+elapsed.Seconds()*l.rate)
	}
	l.last = now
	if l.tokens < 1 {
		return false
	}
	l.tokens--
	return true
}
