package commserver

import (
	"testing"
	"time"
)

func TestErrorLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newErrorLimiter(func() time.Time { return now })
	allowed := 0
	for range 100 {
		if l.allow() {
			allowed++
		}
	}
	if allowed != errorBurst {
		t.Fatalf("a flood got %d errors through, want the burst of %d", allowed, errorBurst)
	}

	now = now.Add(time.Second)
	allowed = 0
	for range 100 {
		if l.allow() {
			allowed++
		}
	}
	if allowed != errorRate {
		t.Fatalf("one second later %d got through, want %d", allowed, errorRate)
	}

	now = now.Add(time.Hour)
	allowed = 0
	for range 100 {
		if l.allow() {
			allowed++
		}
	}
	if allowed != errorBurst {
		t.Fatalf("after a quiet hour %d got through, want no more than the burst of %d", allowed, errorBurst)
	}
}
