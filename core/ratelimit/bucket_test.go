package ratelimit

import (
	"testing"
	"time"
)

// step is one Allow call: at an offset from the start, and its answer.
type step struct {
	at   time.Duration
	want bool
}

func TestBucket(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	tests := []struct {
		name  string
		rate  float64
		burst float64
		steps []step
	}{
		{"a full bucket takes a burst, then refuses", 1, 3, []step{{0, true}, {0, true}, {0, true}, {0, false}}},
		{"refills at the rate", 10, 1, []step{{0, true}, {50 * time.Millisecond, false}, {100 * time.Millisecond, true}, {150 * time.Millisecond, false}}},
		{"never above the burst", 100, 2, []step{{time.Hour, true}, {time.Hour, true}, {time.Hour, false}}},
		{"a clock stepping back refills nothing", 1, 1, []step{{time.Second, true}, {0, false}, {time.Second, false}, {2 * time.Second, true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New(tt.rate, tt.burst, t0)
			for i, s := range tt.steps {
				if got := b.Allow(t0.Add(s.at)); got != s.want {
					t.Fatalf("step %d at +%s: Allow = %v, want %v", i, s.at, got, s.want)
				}
			}
		})
	}
}
