package history

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// TestRingSince: what a client at a given position is replayed, and whether
// that is all it missed, for rings bounded by count and by age.
func TestRingSince(t *testing.T) {
	t0 := time.Unix(1000, 0)
	const epoch = 7
	cases := []struct {
		name          string
		max           int
		ttl           time.Duration
		appended      int           // messages "m1".."mN", one per second from t0
		askAt         time.Duration // after t0
		epoch, offset uint64
		want          []string
		recovered     bool
	}{
		{name: "nothing missed", max: 10, appended: 5, askAt: 5 * time.Second, epoch: epoch, offset: 5, recovered: true},
		{name: "missed two", max: 10, appended: 5, askAt: 5 * time.Second, epoch: epoch, offset: 3, want: []string{"m4", "m5"}, recovered: true},
		{name: "from the start", max: 10, appended: 3, askAt: 3 * time.Second, epoch: epoch, offset: 0, want: []string{"m1", "m2", "m3"}, recovered: true},
		{name: "empty stream, fresh client", max: 10, epoch: epoch, offset: 0, recovered: true},
		{name: "exactly the oldest held is next", max: 3, appended: 6, askAt: 6 * time.Second, epoch: epoch, offset: 3, want: []string{"m4", "m5", "m6"}, recovered: true},
		{name: "count pushed out what it missed", max: 3, appended: 6, askAt: 6 * time.Second, epoch: epoch, offset: 2, want: []string{"m4", "m5", "m6"}, recovered: false},
		{name: "other epoch", max: 10, appended: 5, askAt: 5 * time.Second, epoch: epoch + 1, offset: 3, recovered: false},
		{name: "offset ahead of the stream", max: 10, appended: 5, askAt: 5 * time.Second, epoch: epoch, offset: 6, recovered: false},
		{name: "ttl expired what it missed", max: 100, ttl: 2500 * time.Millisecond, appended: 5, askAt: 5 * time.Second, epoch: epoch, offset: 1, want: []string{"m3", "m4", "m5"}, recovered: false},
		{name: "ttl expired only what it saw", max: 100, ttl: 2500 * time.Millisecond, appended: 5, askAt: 5 * time.Second, epoch: epoch, offset: 2, want: []string{"m3", "m4", "m5"}, recovered: true},
		{name: "ttl expired everything, nothing missed", max: 100, ttl: time.Second, appended: 5, askAt: 60 * time.Second, epoch: epoch, offset: 5, recovered: true},
		{name: "ttl expired everything it missed", max: 100, ttl: time.Second, appended: 5, askAt: 60 * time.Second, epoch: epoch, offset: 4, recovered: false},
		{name: "wrapped many times", max: 4, appended: 103, askAt: 103 * time.Second, epoch: epoch, offset: 100, want: []string{"m101", "m102", "m103"}, recovered: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRing(epoch, tc.max, tc.ttl)
			for i := 1; i <= tc.appended; i++ {
				if r.Next() != uint64(i) {
					t.Fatalf("Next before message %d = %d", i, r.Next())
				}
				r.Append(fmt.Appendf(nil, "m%d", i), t0.Add(time.Duration(i)*time.Second))
			}
			if r.Last() != uint64(tc.appended) || r.Len() > tc.max {
				t.Fatalf("Last %d Len %d after %d appends to a ring of %d", r.Last(), r.Len(), tc.appended, tc.max)
			}
			replay, recovered := r.Since(tc.epoch, tc.offset, t0.Add(tc.askAt))
			var got []string
			for _, m := range replay {
				got = append(got, string(m))
			}
			if !slices.Equal(got, tc.want) || recovered != tc.recovered {
				t.Fatalf("Since(%d, %d) = %v, %v; want %v, %v", tc.epoch, tc.offset, got, recovered, tc.want, tc.recovered)
			}
		})
	}
}

func TestNewEpochIsNeverZero(t *testing.T) {
	for range 1000 {
		if NewEpoch() == 0 {
			t.Fatal("epoch 0")
		}
	}
}

func TestMatch(t *testing.T) {
	cases := []struct {
		pattern, topic string
		want           bool
	}{
		{"chat.*", "chat.room", true},
		{"chat.*", "chat", false},
		{"chat.*", "chat.", false},
		{"chat.*", "chat.room.x", false},
		{"chat.**", "chat.room.x", true},
		{"chat.**", "chat", false},
		{"chat", "chat", true},
		{"chat", "chats", false},
		{"*.log", "a.log", true},
		{"*.log", "a.b.log", false},
		{"**", "anything.at.all", true},
	}
	for _, tc := range cases {
		if got := Match(tc.pattern, tc.topic); got != tc.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.pattern, tc.topic, got, tc.want)
		}
	}
}

func TestRuleCheck(t *testing.T) {
	r, err := Rule{Pattern: "chat.*"}.Check()
	if err != nil || r.Messages != DefaultMessages || r.Linger != time.Minute {
		t.Fatalf("defaults: %+v, %v", r, err)
	}
	if r, _ := (Rule{Pattern: "a", TTL: 5 * time.Second}).Check(); r.Linger != 5*time.Second {
		t.Fatalf("linger defaults to ttl: %+v", r)
	}
	for _, bad := range []Rule{{}, {Pattern: "a b"}, {Pattern: "$presence.x"}, {Pattern: "a", Messages: -1}, {Pattern: "a.**.b"}} {
		if _, err := bad.Check(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}
