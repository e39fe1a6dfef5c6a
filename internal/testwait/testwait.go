// Package testwait is how tests wait for an event that has no channel to
// receive from: poll a condition until it holds or a deadline passes. It has
// no dependencies, so every package's tests can use it without import cycles.
package testwait

import (
	"testing"
	"time"
)

// pollInterval is short next to every time-out the tests use (seconds), so
// that a test waits milliseconds past the event, long enough not to spin.
const pollInterval = 5 * time.Millisecond

// For polls cond until it is true, and fails the test with what if it is
// still false after timeout.
func For(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	ForReport(t, timeout, cond, func() string { return "waiting for " + what })
}

// ForReport is For with a failure message built only when it fails, for
// reports that are costly or must describe the state at the deadline (say,
// the goroutines still running).
func ForReport(t testing.TB, timeout time.Duration, cond func() bool, report func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s %s", timeout, report())
		}
		time.Sleep(pollInterval)
	}
}
