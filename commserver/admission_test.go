package commserver

import (
	"testing"
	"time"
)

// TestSetupClockRetryAfter: the busy hint starts at the default, follows the
// measured setup time and stays within its bounds.
func TestSetupClockRetryAfter(t *testing.T) {
	var c setupClock
	if got := c.retryAfter(); got != busyRetryDefault {
		t.Fatalf("before any setup: %s, want %s", got, busyRetryDefault)
	}
	c.observe(400 * time.Millisecond)
	if got := c.retryAfter(); got != 400*time.Millisecond {
		t.Fatalf("after one setup of 400ms: %s", got)
	}
	c.observe(1200 * time.Millisecond) // 400 + (1200-400)/8
	if got := c.retryAfter(); got != 500*time.Millisecond {
		t.Fatalf("after 400ms and 1.2s: %s, want 500ms", got)
	}
	for range 100 {
		c.observe(time.Millisecond)
	}
	if got := c.retryAfter(); got != busyRetryMin {
		t.Fatalf("fast setups: %s, want the floor %s", got, busyRetryMin)
	}
	for range 100 {
		c.observe(time.Minute)
	}
	if got := c.retryAfter(); got != busyRetryMax {
		t.Fatalf("slow setups: %s, want the cap %s", got, busyRetryMax)
	}
}
