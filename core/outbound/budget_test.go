package outbound

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
)

// overBudget pushes msg, which must be refused as a slow consumer, and
// returns the refusal.
func overBudget(t *testing.T, q *Queue, msg string) *BudgetError {
	t.Helper()
	err := q.Push([]byte(msg))
	if !errors.Is(err, ErrSlowConsumer) {
		t.Fatalf("push of %d bytes over the budget = %v, want ErrSlowConsumer", len(msg), err)
	}
	var be *BudgetError
	if !errors.As(err, &be) {
		t.Fatalf("refusal %v (%T) is not a *BudgetError", err, err)
	}
	return be
}

// A peer that read everything it was sent is not a slow consumer because
// the server's writer had not run yet: behind a writer that flow-controls
// on pion's buffered amount, the budget counts only while that writer waits
// for the peer (its sink above high water). A starved server, whose relay
// queued more than the budget before the writer got a CPU, once cut every
// subscriber at once (TestSlowConsumerIsCutAndTheOthersGetEveryMessage under
// 8 concurrent copies: the fast ones had 0 to 2 KiB unacknowledged in SCTP).
func TestBudgetCountsOnlyWhileTheWriterWaitsForThePeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := NewReliable(10)
		l := NewLanes(q)
		sink := newFakeSink()
		l.Attach(0, sink, 100)

		// The writer has not run yet (a starved server): its backlog is
		// the server's delay, and the peer is not cut for it.
		for _, m := range []string{"m0--", "m1--", "m2--", "m3--", "m4--"} {
			mustPush(t, q, m)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := startLanes(ctx, l)
		sink.expectWrites(t, "m0--", "m1--", "m2--", "m3--", "m4--")

		// The peer stops acknowledging: pion holds more than high water.
		// The next push wakes the writer, which finds the sink backed up
		// and waits for Low; from then on the backlog is the peer's.
		sink.buffered.Store(200)
		mustPush(t, q, "h0")
		synctest.Wait()
		be := overBudget(t, q, "h1--------")
		if be.Queued != 2 || be.Messages != 1 || be.Size != 10 || be.Budget != 10 {
			t.Errorf("refusal = %+v, want 2 bytes in 1 message queued, 10 refused, budget 10", *be)
		}
		if !strings.Contains(be.Error(), "budget 10") {
			t.Errorf("refusal says %q, want the budget in it", be.Error())
		}

		// The peer catches up; once the writer has taken again, a backlog
		// is again the writer's own until the sink backs up.
		sink.buffered.Store(0)
		l.Low()
		sink.expectWrites(t, "h0")
		synctest.Wait()
		for _, m := range []string{"n0----", "n1----", "n2----"} {
			mustPush(t, q, m) // the writer may take any of them meanwhile
		}
		sink.expectWrites(t, "n0----", "n1----", "n2----")

		// A writer that has returned takes nothing any more: the budget
		// counts again.
		cancel()
		if err := waitRun(t, done); err != nil {
			t.Fatalf("Run after cancel = %v, want nil", err)
		}
		mustPush(t, q, "a---")
		overBudget(t, q, "b--------")
	})
}

// Queue.Run behaves as Lanes: with a high water above 0 the budget counts
// only while it waits for the sink.
func TestRunBudgetCountsOnlyWhileItWaitsForTheSink(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := NewReliable(10)
		sink := newFakeSink()
		sink.buffered.Store(200)
		low := make(chan struct{}, 1)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := startRun(ctx, q, sink, 100, low)
		synctest.Wait() // Run found the sink backed up and waits

		mustPush(t, q, "h0")
		synctest.Wait()
		overBudget(t, q, "h1--------")

		sink.buffered.Store(0)
		low <- struct{}{}
		sink.expectWrites(t, "h0")
		synctest.Wait()
		cancel()
		if err := waitRun(t, done); err != nil {
			t.Fatalf("Run after cancel = %v, want nil", err)
		}
	})
}

// A sink whose Write blocks (a websocket: Buffered is always 0, high water
// 0) has nothing to watch, so the budget counts whatever the writer does:
// a writer stuck in Write towards a peer that does not read leaves the
// backlog in the queue, and the peer is cut at the budget as before.
func TestBudgetOfABlockingSinkCountsWhateverTheWriterDoes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := NewReliable(10)
		sink := newFakeSink()
		unblock := make(chan struct{})
		sink.onWrite = func([]byte) { <-unblock }
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := startRun(ctx, q, sink, 0, nil)

		mustPush(t, q, "w0")
		synctest.Wait() // the writer took w0 and is stuck writing it
		mustPush(t, q, "q0----")
		be := overBudget(t, q, "q1----")
		if be.Queued != 6 || be.Messages != 1 {
			t.Errorf("refusal = %+v, want 6 bytes in 1 message queued", *be)
		}

		close(unblock)
		sink.expectWrites(t, "w0", "q0----")
		cancel()
		if err := waitRun(t, done); err != nil {
			t.Fatalf("Run after cancel = %v, want nil", err)
		}
	})
}
