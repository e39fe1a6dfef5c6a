// Package backoff is the broker's one retry schedule: capped exponential
// backoff with equal jitter, for the coordinator link's reconnects and the
// auth plugin's restarts, and Wait, the cancellable sleep between attempts
// (and any other wait that must end when its owner stops).
package backoff

import (
	"math/rand/v2"
	"time"
)

// Backoff doubles its step from Min up to Max and waits between half and
// all of the current step, so that processes that failed together (servers
// that lost the coordinator, plugins that crashed on one bad config) do not
// all retry in the same instant, and none waits less than half the step.
// The zero step starts at Min; Reset goes back there after a success. A
// Backoff is owned by one goroutine.
type Backoff struct {
	Min, Max time.Duration
	step     time.Duration
}

// Reset starts the schedule over at Min.
func (b *Backoff) Reset() { b.step = 0 }

// Next advances the schedule and returns the wait before the next attempt.
func (b *Backoff) Next() time.Duration {
	if b.step == 0 {
		b.step = b.Min
	} else {
		b.step = min(2*b.step, b.Max)
	}
	half := b.step / 2
	if half <= 0 {
		return b.step
	}
	return half + rand.N(b.step-half+1)
}

// Wait waits d and reports true, or returns false as soon as done is
// closed (pass ctx.Done()). A d of zero or less reports whether done is
// still open without waiting.
func Wait(done <-chan struct{}, d time.Duration) bool {
	if d <= 0 {
		select {
		case <-done:
			return false
		default:
			return true
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-done:
		return false
	}
}
