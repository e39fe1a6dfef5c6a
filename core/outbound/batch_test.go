package outbound

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/core/relay"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// unbatch returns the inner messages of a written BATCH, or the write itself
// when it is not one.
func unbatch(t *testing.T, w string) []string {
	t.Helper()
	if typ, err := relay.ReadType([]byte(w)); err != nil || typ != protocol.MessageType_BATCH {
		return []string{w}
	}
	it, err := relay.ParseBatch([]byte(w))
	if err != nil {
		t.Fatalf("written batch %x: %v", w, err)
	}
	var got []string
	for m, ok := it.Next(); ok; m, ok = it.Next() {
		got = append(got, string(m))
	}
	return got
}

// heldWriter starts Run on q and holds it inside its first write (of
// "first") until the returned release is called, so that the test queues
// what the next wake-up takes in one go.
func heldWriter(t *testing.T, q *Queue, sink *fakeSink) (release func(), done <-chan error, cancel context.CancelFunc) {
	t.Helper()
	entered, hold := make(chan struct{}), make(chan struct{})
	sink.onWrite = func(p []byte) {
		if string(p) == "first" {
			close(entered)
			<-hold
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done = startRun(ctx, q, sink, 1<<20, nil)
	if err := q.Push([]byte("first")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-entered:
	case <-time.After(waitTimeout):
		t.Fatal("Run never wrote the first message")
	}
	return func() { close(hold) }, done, cancel
}

func TestBatchingFramesWhatIsQueuedAtAWakeUp(t *testing.T) {
	q := NewReliable(1 << 20)
	q.EnableBatching(1<<16, relay.BatchFramer{})
	sink := newFakeSink()
	release, done, cancel := heldWriter(t, q, sink)
	defer cancel()
	want := []string{"m0", "m1", "m2", "m3", "m4"}
	for _, m := range want {
		q.Push([]byte(m))
	}
	release()
	if got := sink.next(t); got != "first" {
		t.Fatalf("first write = %q", got)
	}
	batch := sink.next(t)
	if got := unbatch(t, batch); !slices.Equal(got, want) {
		t.Fatalf("second write carried %q, want one batch of %q", got, want)
	}
	if want := string(relay.AppendBatch(nil, []byte("m0"), []byte("m1"), []byte("m2"), []byte("m3"), []byte("m4"))); batch != want {
		t.Fatalf("batch = %x, want %x", batch, want)
	}
	// A lone message is written as itself, never as a batch of one.
	q.Push([]byte("alone"))
	sink.expectWrites(t, "alone")
	// The count moves after the sink's Write returns: read it once Run has
	// returned, not as soon as the sink has the message.
	q.Close()
	waitRun(t, done)
	if w := q.Written(); w != 7 {
		t.Fatalf("Written() = %d, want 7 (every inner message counts)", w)
	}
}

// What was queued before EnableBatching (the server's own AUTH on a link,
// which the remote must read first and alone) is written as itself; what
// was pushed after shares batches.
func TestBatchingAppliesToMessagesPushedAfterEnabling(t *testing.T) {
	q := NewReliable(1 << 20)
	sink := newFakeSink()
	release, done, cancel := heldWriter(t, q, sink)
	defer cancel()
	q.Push([]byte("auth"))
	q.EnableBatching(1<<16, relay.BatchFramer{})
	q.Push([]byte("a"))
	q.Push([]byte("b"))
	release()
	sink.expectWrites(t, "first", "auth")
	if got := unbatch(t, sink.next(t)); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("after auth: %q, want a batch of a and b", got)
	}
	q.Close()
	waitRun(t, done)
}

// The size bound splits a run of messages into several batches, each
// within the bound, in order; a message too large for any batch goes alone;
// nothing is lost or reordered.
func TestBatchingSplitsAtTheSizeBound(t *testing.T) {
	const limit = 100
	q := NewUnreliable(1024)
	q.EnableBatching(limit, relay.BatchFramer{})
	sink := newFakeSink()
	release, done, cancel := heldWriter(t, q, sink)
	defer cancel()
	var want []string
	for i := range 20 {
		m := fmt.Sprintf("%02d%s", i, strings.Repeat("x", 20))
		if i == 7 {
			m = strings.Repeat("L", 2*limit) // over the bound on its own
		}
		want = append(want, m)
		q.Push([]byte(m))
	}
	release()
	sink.expectWrites(t, "first")
	var got []string
	batches := 0
	for len(got) < len(want) {
		w := sink.next(t)
		inner := unbatch(t, w)
		if len(inner) > 1 {
			batches++
			if len(w) > limit {
				t.Fatalf("a batch of %d bytes, over the bound of %d", len(w), limit)
			}
		}
		got = append(got, inner...)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("delivered %q, want %q", got, want)
	}
	// 22-byte messages take 24 bytes each in a batch, after its 2-byte
	// header: four per 100-byte batch. The large one splits the run, so the
	// 7 before it take 2 batches and the 12 after it 3.
	if batches != 5 {
		t.Fatalf("%d batches, want 5", batches)
	}
	q.Close()
	waitRun(t, done)
}

func TestBatchingCanBeTurnedOff(t *testing.T) {
	q := NewReliable(1 << 20)
	q.EnableBatching(1<<16, relay.BatchFramer{})
	sink := newFakeSink()
	release, done, cancel := heldWriter(t, q, sink)
	defer cancel()
	q.EnableBatching(0, nil)
	q.Push([]byte("a"))
	q.Push([]byte("b"))
	release()
	sink.expectWrites(t, "first", "a", "b")
	q.Close()
	waitRun(t, done)
}

// TestBatchedWriteDoesNotAllocate: framing reuses pooled buffers, so a
// batched write costs no allocation per message or per batch.
func TestBatchedWriteDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop buffers at random")
	}
	q := NewReliable(1 << 20)
	framer := relay.BatchFramer{}
	msg := relay.AppendTopicFW(nil, 42, "game.room.42", make([]byte, 100))
	batch := make([][]byte, 10)
	plan := batchPlan{limit: 1 << 16, framer: framer}
	n := testing.AllocsPerRun(100, func() {
		for i := range batch {
			batch[i] = msg
		}
		if err := q.write(discardSink{}, batch, plan); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Fatalf("%v allocations per batched write, want 0", n)
	}
}

type discardSink struct{}

func (discardSink) Write(p []byte) (int, error) { return len(p), nil }
func (discardSink) Buffered() uint64            { return 0 }
