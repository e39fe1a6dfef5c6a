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

// TestRingMaxBytes: a ring bounded in bytes drops its oldest messages so
// that what it holds fits, always keeps the newest (even one larger than the
// bound), and a client whose missed messages were pushed out by the bound is
// told so.
func TestRingMaxBytes(t *testing.T) {
	t0 := time.Unix(1000, 0)
	r := NewRing(1, 100, 0)
	r.SetMaxBytes(10)
	total := 0
	for i := 1; i <= 10; i++ {
		total += r.Append(fmt.Appendf(nil, "m%03d", i), t0)
		if r.Bytes() > 10 || r.Bytes() != total {
			t.Fatalf("after %d appends: Bytes %d, sum of deltas %d, bound 10", i, r.Bytes(), total)
		}
	}
	if r.Len() != 2 || r.Last() != 10 {
		t.Fatalf("Len %d Last %d, want 2 and 10", r.Len(), r.Last())
	}
	if replay, ok := r.Since(1, 8, t0); !ok || len(replay) != 2 || string(replay[0]) != "m009" {
		t.Fatalf("Since(8) = %q, %v; want m009, m010, recovered", replay, ok)
	}
	if replay, ok := r.Since(1, 7, t0); ok || len(replay) != 2 {
		t.Fatalf("Since(7) = %q, %v; want what is held, not recovered", replay, ok)
	}
	big := make([]byte, 25)
	if d := r.Append(big, t0); d != 25-8 || r.Len() != 1 || r.Bytes() != 25 {
		t.Fatalf("a message over the bound: delta %d, Len %d, Bytes %d; want 17, 1, 25", d, r.Len(), r.Bytes())
	}
	if r.DropOldest() != 0 || r.Len() != 1 {
		t.Fatal("DropOldest dropped the newest message")
	}
	r.SetMaxBytes(0)
	r.Append([]byte("m012"), t0)
	if freed := r.DropOldest(); freed != 25 || r.Bytes() != 4 {
		t.Fatalf("DropOldest freed %d, Bytes %d; want 25 and 4", freed, r.Bytes())
	}
}

// TestRingExpireFreesBytes: messages dropped for their age leave Bytes.
func TestRingExpireFreesBytes(t *testing.T) {
	t0 := time.Unix(1000, 0)
	r := NewRing(1, 100, time.Second)
	for i := range 5 {
		r.Append([]byte("abcd"), t0.Add(time.Duration(i)*300*time.Millisecond))
	}
	if freed := r.Expire(t0.Add(1500 * time.Millisecond)); freed != 4 || r.Bytes() != 12 || r.Len() != 3 {
		// The append at 1.2 s already dropped the one of 0 s.
		t.Fatalf("Expire freed %d, Bytes %d, Len %d; want 4, 12, 3", freed, r.Bytes(), r.Len())
	}
}

// TestRingCursorAt: Cursor and At walk the same replay as Since, one message
// at a time, with each message's sender.
func TestRingCursorAt(t *testing.T) {
	t0 := time.Unix(1000, 0)
	r := NewRing(3, 4, 0)
	for i := 1; i <= 6; i++ {
		r.AppendFrom(fmt.Appendf(nil, "m%d", i), uint64(100+i), t0)
	}
	for _, off := range []uint64{0, 1, 2, 3, 5, 6} {
		want, wantOK := r.Since(3, off, t0)
		from, recovered, ok := r.Cursor(3, off, t0)
		if !ok || recovered != wantOK {
			t.Fatalf("Cursor(%d) = %d, %v, %v; Since says recovered %v", off, from, recovered, ok, wantOK)
		}
		var got [][]byte
		for o := from; o <= r.Last(); o++ {
			msg, sender, held := r.At(o)
			if !held || sender != 100+o {
				t.Fatalf("At(%d) = %q, %d, %v", o, msg, sender, held)
			}
			got = append(got, msg)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("Cursor/At from %d give %q, Since %q", off, got, want)
		}
	}
	if _, _, ok := r.Cursor(4, 1, t0); ok {
		t.Fatal("Cursor of another epoch is ok")
	}
	if _, _, ok := r.Cursor(3, 7, t0); ok {
		t.Fatal("Cursor ahead of the stream is ok")
	}
	if _, _, held := r.At(2); held {
		t.Fatal("At holds a message pushed out")
	}
	if _, _, held := r.At(7); held {
		t.Fatal("At holds a message not yet numbered")
	}
}
