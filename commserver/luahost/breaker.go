package luahost

import (
	"sync"
	"sync/atomic"
	"time"
)

// A script whose calls keep running into their time-out (or memory
// budget) burns its whole limit on every message, CPU that every other
// topic's relay then lacks. After breakerTrips such failures in a row its
// breaker opens: its hooks fail per its failure mode without running, for
// breakerCooldown; then one trial call runs, and closes the breaker if it
// ends in time or reopens it if not. Errors and bad return values cost
// nothing and do not count. An edited script is a new version with a
// closed breaker.
const (
	breakerTrips    = 5
	breakerCooldown = 10 * time.Second
)

type breaker struct {
	open        atomic.Bool  // the fast path: closed breakers cost one load
	consecutive atomic.Int32 // costly failures in a row

	mu       sync.Mutex
	openedAt time.Time // guarded by mu
	trial    bool      // a trial call is running; guarded by mu
}

// admit says whether a call may run now and whether it is the trial. The
// clock is read only when the breaker is open.
func (b *breaker) admit(clock func() time.Time) (trial, ok bool) {
	if !b.open.Load() {
		return false, true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.open.Load() {
		return false, true
	}
	if b.trial || clock().Sub(b.openedAt) < breakerCooldown {
		return false, false
	}
	b.trial = true
	return true, true
}

// abandonTrial lets another call be the trial when this one could not start.
func (b *breaker) abandonTrial() {
	b.mu.Lock()
	b.trial = false
	b.mu.Unlock()
}

// record takes the result of a call that ran: costly is a time-out or a
// memory-limit failure.
func (b *breaker) record(s *script, costly, trial bool) {
	if !costly {
		if b.consecutive.Load() != 0 {
			b.consecutive.Store(0)
		}
		if trial {
			b.mu.Lock()
			b.trial = false
			b.open.Store(false)
			b.mu.Unlock()
			s.m.open.Set(0)
			s.host.log.Info("policy script breaker closed", "script", s.name, "reason", "trial call ended in time")
		}
		return
	}
	n := b.consecutive.Add(1)
	if !trial && (n < breakerTrips || b.open.Load()) {
		return
	}
	b.mu.Lock()
	b.trial = false
	if b.open.Load() && !trial {
		b.mu.Unlock()
		return
	}
	b.open.Store(true)
	b.openedAt = s.host.clock()
	b.mu.Unlock()
	s.m.trips.Inc()
	s.m.open.Set(1)
	s.host.log.Warn("policy script breaker open", "script", s.name, "consecutive_failures", n,
		"cooldown", breakerCooldown, "failure", s.failureMode(),
		"effect", "its hooks fail per its failure mode without running until a trial call ends in time")
}
