package commserver

import (
	"sync"
	"time"

	"github.com/webrtc-broker/webrtc-broker/core/ratelimit"
)

// errorLimiter caps the ERROR messages a peer is sent for things it keeps
// doing (dropped publishes, protocol violations), so that a client flooding
// a policy-governed topic does not get a flood back.
//
// mu guards b: both read loops of a peer share one limiter.
type errorLimiter struct {
	mu  sync.Mutex
	b   ratelimit.Bucket
	now func() time.Time
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
	return &errorLimiter{b: ratelimit.New(errorRate, errorBurst, now()), now: now}
}

// allow takes a token if there is one.
func (l *errorLimiter) allow() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Allow(l.now())
}
