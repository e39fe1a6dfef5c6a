package outbound

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

// takeAll drains q with Take and returns the messages as strings.
func takeAll(q *Queue) []string {
	var out []string
	for _, m := range q.Take(nil) {
		out = append(out, string(m))
	}
	return out
}

func TestPushLatest(t *testing.T) {
	const a, b = 1, 2
	tests := []struct {
		name           string
		queue          func() *Queue
		pushes         []push
		want           []string
		wantSuperseded uint64
		wantDropped    uint64
	}{
		{"the newest of a key takes the oldest's place", func() *Queue { return NewUnreliable(16) },
			[]push{{"a1", a}, {"b1", b}, {"a2", a}, {"a3", a}, {"b2", b}},
			[]string{"a3", "b2"}, 3, 3},
		{"key 0 never supersedes", func() *Queue { return NewUnreliable(16) },
			[]push{{"x1", 0}, {"x2", 0}, {"a1", a}, {"x3", 0}},
			[]string{"x1", "x2", "a1", "x3"}, 0, 0},
		{"a plain message between keyed ones stays", func() *Queue { return NewUnreliable(16) },
			[]push{{"a1", a}, {"x", 0}, {"a2", a}},
			[]string{"a2", "x"}, 1, 1},
		{"a reliable queue ignores keys", func() *Queue { return NewReliable(1 << 20) },
			[]push{{"a1", a}, {"a2", a}},
			[]string{"a1", "a2"}, 0, 0},
		{"a key whose message was dropped as the oldest queues again", func() *Queue { return NewUnreliable(2) },
			[]push{{"a1", a}, {"b1", b}, {"c1", 3}, {"a2", a}},
			[]string{"c1", "a2"}, 0, 2},
		{"growth keeps the keys in their places", func() *Queue { return NewUnreliable(64) },
			append(pushesOf(40, 100), push{"k100'", 100}, push{"k139'", 139}),
			append(append([]string{"k100'"}, namesOf(1, 39, 100)...), "k139'"), 2, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := tt.queue()
			for _, p := range tt.pushes {
				if err := q.PushLatest([]byte(p.msg), p.key); err != nil {
					t.Fatal(err)
				}
			}
			if got := takeAll(q); !slices.Equal(got, tt.want) {
				t.Fatalf("taken %q, want %q", got, tt.want)
			}
			if q.Superseded() != tt.wantSuperseded || q.Dropped() != tt.wantDropped {
				t.Fatalf("superseded %d, dropped %d; want %d, %d", q.Superseded(), q.Dropped(), tt.wantSuperseded, tt.wantDropped)
			}
			// Taken messages are forgotten: the same keys queue anew.
			for _, p := range tt.pushes[:1] {
				q.PushLatest([]byte(p.msg), p.key)
			}
			if got := takeAll(q); len(got) != 1 {
				t.Fatalf("after a take, %q queued, want one message", got)
			}
			if n, bytes := q.Len(); n != 0 || bytes != 0 {
				t.Fatalf("Len = %d, %d after Take", n, bytes)
			}
		})
	}
}

// push is one PushLatest of a table.
type push struct {
	msg string
	key uint64
}

// pushesOf is n messages named k<key> with keys from first on.
func pushesOf(n int, first uint64) []push {
	var out []push
	for i := range uint64(n) {
		out = append(out, push{fmt.Sprintf("k%d", first+i), first + i})
	}
	return out
}

// namesOf is k<first+from> .. k<first+to>.
func namesOf(from, to int, first uint64) []string {
	var out []string
	for i := from; i <= to-1; i++ {
		out = append(out, fmt.Sprintf("k%d", first+uint64(i)))
	}
	return out
}

// TestPushLatestSupersedesOnlyWhileBackedUp: a writer that keeps up writes
// every message; one held above its high-water mark gets the newest of each
// key once released, and the byte accounting stays exact.
func TestPushLatestSupersedesOnlyWhileBackedUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := NewUnreliable(64)
		sink := newFakeSink()
		low := make(chan struct{}, 1)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := startRun(ctx, q, sink, 1000, low)

		for _, m := range []string{"a1", "a2", "a3"} {
			q.PushLatest([]byte(m), 1)
			sink.expectWrites(t, m) // taken before the next push
		}
		if q.Superseded() != 0 {
			t.Fatalf("superseded %d while keeping up", q.Superseded())
		}

		sink.buffered.Store(2000) // Run waits for low before it takes more
		q.PushLatest([]byte("held"), 9)
		for _, m := range []string{"a4", "b1", "a5", "b2", "a6"} {
			q.PushLatest([]byte(m), map[byte]uint64{'a': 1, 'b': 2}[m[0]])
		}
		synctest.Wait()
		if n, bytes := q.Len(); n != 3 || bytes != 8 {
			t.Fatalf("Len = %d messages, %d bytes; want 3, 8", n, bytes)
		}
		sink.buffered.Store(0)
		low <- struct{}{}
		sink.expectWrites(t, "held", "a6", "b2")
		if q.Superseded() != 3 {
			t.Fatalf("superseded %d, want 3", q.Superseded())
		}
		cancel()
		if err := waitRun(t, done); err != nil {
			t.Fatal(err)
		}
	})
}

func TestMaxDelayDropsWhatWaitedTooLong(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := NewUnreliable(64)
		q.SetMaxDelay(100 * time.Millisecond)
		q.PushLatest([]byte("old"), 1)
		q.Push([]byte("old plain"))
		time.Sleep(60 * time.Millisecond)
		q.Push([]byte("middle"))
		time.Sleep(60 * time.Millisecond) // old ones 120ms, middle 60ms
		q.Push([]byte("new"))
		if got, want := takeAll(q), []string{"middle", "new"}; !slices.Equal(got, want) {
			t.Fatalf("taken %q, want %q", got, want)
		}
		if q.Dropped() != 2 {
			t.Fatalf("dropped %d, want 2", q.Dropped())
		}

		// A superseding message brings its own age: the key's place is
		// old, its content is not.
		q.PushLatest([]byte("k1"), 7)
		time.Sleep(150 * time.Millisecond)
		q.PushLatest([]byte("k2"), 7)
		if got, want := takeAll(q), []string{"k2"}; !slices.Equal(got, want) {
			t.Fatalf("taken %q, want %q", got, want)
		}

		// Exactly at the bound is not over it.
		q.Push([]byte("edge"))
		time.Sleep(100 * time.Millisecond)
		if got, want := takeAll(q), []string{"edge"}; !slices.Equal(got, want) {
			t.Fatalf("taken %q, want %q", got, want)
		}
	})
}

func TestMaxDelayIsIgnoredByReliableQueues(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := NewReliable(1 << 20)
		q.SetMaxDelay(time.Millisecond)
		q.Push([]byte("kept"))
		time.Sleep(time.Second)
		if got := takeAll(q); !slices.Equal(got, []string{"kept"}) {
			t.Fatalf("taken %q", got)
		}
	})
}

// TestPushLatestIndexStaysBounded: distinct keys pushed into a queue that
// drops its oldest, with no take between, leave stale index entries; the
// index is rebuilt before it grows past twice the queue.
func TestPushLatestIndexStaysBounded(t *testing.T) {
	q := NewUnreliable(8)
	for k := range uint64(10000) {
		q.PushLatest([]byte("m"), k+1)
	}
	q.mu.Lock()
	n := len(q.index)
	q.mu.Unlock()
	if n > 16 {
		t.Fatalf("index holds %d keys for a queue of 8", n)
	}
	if got := takeAll(q); len(got) != 8 {
		t.Fatalf("taken %d, want 8", len(got))
	}
}

func TestPushLatestDoesNotAllocate(t *testing.T) {
	msg := []byte("state")
	q := NewUnreliable(1024)
	q.SetMaxDelay(time.Second)
	var batch [][]byte
	cycle := func() {
		for k := range uint64(256) {
			q.PushLatest(msg, k%64+1)
		}
		q.mu.Lock()
		batch = q.take(batch[:0])
		q.mu.Unlock()
	}
	cycle() // warm up the rings and the index
	if n := testing.AllocsPerRun(100, cycle); n != 0 {
		t.Fatalf("%v allocations per cycle, want 0", n)
	}
}

func BenchmarkPushLatest(b *testing.B) {
	msg := []byte("state")
	for _, bc := range []struct {
		name     string
		maxDelay time.Duration
		keys     uint64
	}{{"plain", 0, 0}, {"conflate64", 0, 64}, {"conflate64+maxdelay", time.Second, 64}} {
		b.Run(bc.name, func(b *testing.B) {
			q := NewUnreliable(1024)
			q.SetMaxDelay(bc.maxDelay)
			var batch [][]byte
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				var key uint64
				if bc.keys > 0 {
					key = uint64(i)%bc.keys + 1
				}
				q.PushLatest(msg, key)
				if i%256 == 255 {
					q.mu.Lock()
					batch = q.take(batch[:0])
					q.mu.Unlock()
				}
			}
		})
	}
}
