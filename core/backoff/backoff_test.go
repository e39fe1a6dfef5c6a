package backoff

import (
	"testing"
	"time"
)

func TestNextGrowsToTheCapWithJitterAndResets(t *testing.T) {
	b := Backoff{Min: 100 * time.Millisecond, Max: time.Second}
	step := b.Min
	for i := range 10 {
		d := b.Next()
		if d < step/2 || d > step {
			t.Fatalf("attempt %d: wait %s, want within [%s, %s]", i, d, step/2, step)
		}
		step = min(2*step, b.Max)
	}
	b.Reset()
	if d := b.Next(); d < b.Min/2 || d > b.Min {
		t.Fatalf("after reset: wait %s, want within [%s, %s]", d, b.Min/2, b.Min)
	}
}

func TestNextJitters(t *testing.T) {
	seen := map[time.Duration]bool{}
	for range 50 {
		b := Backoff{Min: time.Second, Max: time.Second}
		seen[b.Next()] = true
	}
	if len(seen) < 2 {
		t.Fatalf("50 schedules all waited %v: no jitter", seen)
	}
}

func TestNextWithoutAStep(t *testing.T) {
	b := Backoff{Min: 1, Max: 1}
	if d := b.Next(); d != 1 {
		t.Fatalf("wait %s, want 1ns", d)
	}
}

func TestWaitEndsWhenDoneCloses(t *testing.T) {
	done := make(chan struct{})
	close(done)
	if Wait(done, time.Hour) {
		t.Fatalf("Wait on a closed done reported the full wait")
	}
	if Wait(done, 0) {
		t.Fatalf("Wait(0) on a closed done reported true")
	}
	if !Wait(make(chan struct{}), 0) {
		t.Fatalf("Wait(0) on an open done reported false")
	}
	if !Wait(nil, time.Nanosecond) {
		t.Fatalf("a 1ns Wait without done reported false")
	}
}
