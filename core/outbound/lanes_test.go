package outbound

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/core/relay"
)

// startLanes runs l.Run in a goroutine and returns a channel with its result.
func startLanes(ctx context.Context, l *Lanes) <-chan error {
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	return done
}

// One goroutine writes both lanes, each message to its own sink, in each
// lane's order; what is pushed before a lane's sink is attached waits for
// it.
func TestLanesWriteEachQueueToItsSink(t *testing.T) {
	rel, unrel := NewReliable(1<<20), NewUnreliable(64)
	l := NewLanes(rel, unrel)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := startLanes(ctx, l)

	a, b := newFakeSink(), newFakeSink()
	mustPush(t, rel, "r0")
	l.Attach(0, a, 1<<20)
	a.expectWrites(t, "r0")

	mustPush(t, unrel, "u0") // lane 1 has no sink yet
	mustPush(t, rel, "r1")
	a.expectWrites(t, "r1")
	l.Attach(1, b, 1<<20)
	b.expectWrites(t, "u0")
	for _, m := range []string{"u1", "u2"} {
		mustPush(t, unrel, m)
	}
	mustPush(t, rel, "r2")
	b.expectWrites(t, "u1", "u2")
	a.expectWrites(t, "r2")

	cancel()
	if err := waitRun(t, done); err != nil {
		t.Fatalf("Run after cancel = %v, want nil", err)
	}
}

// A lane whose sink is over its high water waits for Low; the other lane
// keeps writing meanwhile.
func TestLanesBackedUpLaneDoesNotHoldUpTheOther(t *testing.T) {
	rel, unrel := NewReliable(1<<20), NewUnreliable(64)
	l := NewLanes(rel, unrel)
	a, b := newFakeSink(), newFakeSink()
	a.buffered.Store(100)
	l.Attach(0, a, 10)
	l.Attach(1, b, 10)
	done := startLanes(context.Background(), l)

	mustPush(t, rel, "held")
	mustPush(t, unrel, "u0")
	b.expectWrites(t, "u0")
	mustPush(t, unrel, "u1")
	b.expectWrites(t, "u1")
	select {
	case m := <-a.written:
		t.Fatalf("a backed-up lane wrote %q", m)
	default:
	}

	a.buffered.Store(0)
	l.Low()
	a.expectWrites(t, "held")

	rel.Close()
	if err := waitRun(t, done); err != nil {
		t.Fatalf("Run after Close = %v, want nil", err)
	}
}

// A failed write ends Run with the error; a closed queue ends it with nil.
func TestLanesWriteErrorAndClose(t *testing.T) {
	rel, unrel := NewReliable(1<<20), NewUnreliable(64)
	l := NewLanes(rel, unrel)
	bad := newFakeSink()
	bad.err = errors.New("boom")
	l.Attach(1, bad, 1<<20)
	done := startLanes(context.Background(), l)
	mustPush(t, unrel, "x")
	if err := waitRun(t, done); !errors.Is(err, bad.err) {
		t.Fatalf("Run = %v, want %v", err, bad.err)
	}

	rel2, unrel2 := NewReliable(1<<20), NewUnreliable(64)
	l2 := NewLanes(rel2, unrel2)
	done2 := startLanes(context.Background(), l2)
	unrel2.Close()
	if err := waitRun(t, done2); err != nil {
		t.Fatalf("Run after Close = %v, want nil", err)
	}
}

// Batching is each queue's: a batching lane frames what it took, the other
// writes messages as themselves.
func TestLanesBatchPerQueue(t *testing.T) {
	rel, unrel := NewReliable(1<<20), NewUnreliable(64)
	rel.EnableBatching(1<<10, relay.BatchFramer{})
	l := NewLanes(rel, unrel)
	a, b := newFakeSink(), newFakeSink()
	for _, m := range []string{"a", "b", "c"} {
		mustPush(t, rel, m)
		mustPush(t, unrel, m)
	}
	l.Attach(0, a, 1<<20)
	l.Attach(1, b, 1<<20)
	ctx, cancel := context.WithCancel(context.Background())
	done := startLanes(ctx, l)
	if got := unbatch(t, a.next(t)); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("the batching lane wrote %q, want one batch of a, b, c", got)
	}
	b.expectWrites(t, "a", "b", "c")
	if rel.Batches() != 1 || rel.Written() != 3 || unrel.Written() != 3 {
		t.Fatalf("batches %d, written %d and %d; want 1, 3, 3", rel.Batches(), rel.Written(), unrel.Written())
	}
	cancel()
	if err := waitRun(t, done); err != nil {
		t.Fatal(err)
	}
}

func mustPush(t *testing.T, q *Queue, m string) {
	t.Helper()
	if err := q.Push([]byte(m)); err != nil {
		t.Fatalf("push %q: %v", m, err)
	}
}

// A lane gathering for its coalesce window does not hold up a lane without
// one: the reliable message is written while the unreliable ones still
// gather, and those then leave together once their window is over.
func TestLanesGatheringLaneDoesNotHoldUpTheOther(t *testing.T) {
	const window = time.Second // far longer than the pushes take, or a scheduling stall
	rel, unrel := NewReliable(1<<20), NewUnreliable(64)
	unrel.SetCoalesce(window)
	l := NewLanes(rel, unrel)
	a, b := newFakeSink(), newFakeSink()
	var queuedAtR1 atomic.Int64 // unreliable messages still queued when r1 was written
	queuedAtR1.Store(-1)
	a.onWrite = func(p []byte) {
		if string(p) == "r1" {
			n, _ := unrel.Len()
			queuedAtR1.Store(int64(n))
		}
	}
	var pushedU2, u2BeforeU1 atomic.Bool // u2 is pushed only once r1 was written
	b.onWrite = func(p []byte) {
		if string(p) == "u1" {
			u2BeforeU1.Store(pushedU2.Load())
		}
	}
	l.Attach(0, a, 1<<20)
	l.Attach(1, b, 1<<20)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := startLanes(ctx, l)

	// An idle lane's first message leaves at once; then the lane is under
	// sustained traffic and gathers.
	start := time.Now()
	mustPush(t, unrel, "u0")
	b.expectWrites(t, "u0")
	if waited := time.Since(start); waited >= window {
		t.Fatalf("an idle lane's first message waited %v, want it sent at once", waited)
	}
	mustPush(t, unrel, "u1")
	mustPush(t, rel, "r1")
	a.expectWrites(t, "r1")
	mustPush(t, unrel, "u2")
	pushedU2.Store(true)
	b.expectWrites(t, "u1", "u2")
	if n := queuedAtR1.Load(); n != 1 {
		t.Fatalf("when r1 was written %d unreliable messages were queued, want 1 (u1, gathering)", n)
	}
	if !u2BeforeU1.Load() {
		t.Fatal("u1 was written before u2 was pushed: the unreliable lane stopped gathering when r1 came")
	}
	if n, _ := unrel.Len(); n != 0 {
		t.Fatalf("%d unreliable messages left queued", n)
	}
	cancel()
	if err := waitRun(t, done); err != nil {
		t.Fatalf("Run after cancel = %v, want nil", err)
	}
}
