package outbound

import (
	"context"
	"testing"
	"time"
)

// isClosed reports whether c is closed, without waiting.
func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func TestEmptiedFiresWhenWhatIsQueuedIsTaken(t *testing.T) {
	cases := []struct {
		name  string
		queue func() *Queue
		empty func(q *Queue) // what makes the queue empty
	}{
		{"reliable, taken by the owner", func() *Queue { return NewReliable(1 << 20) }, func(q *Queue) { q.Take(nil) }},
		{"unreliable, taken by the owner", func() *Queue { return NewUnreliable(8) }, func(q *Queue) { q.Take(nil) }},
		{"released by Close", func() *Queue { return NewReliable(1 << 20) }, func(q *Queue) { q.Close() }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := tc.queue()
			if !isClosed(q.Emptied()) {
				t.Fatal("Emptied of an empty queue is not closed at once")
			}
			if err := q.Push([]byte("m")); err != nil {
				t.Fatal(err)
			}
			c := q.Emptied()
			if isClosed(c) {
				t.Fatal("Emptied is closed while a message is queued")
			}
			if q.Emptied() != c {
				t.Fatal("a second waiter got another channel: one take must wake both")
			}
			tc.empty(q)
			if !isClosed(c) {
				t.Fatal("Emptied not closed once the queue was emptied")
			}
		})
	}
}

func TestEmptiedFiresWhenTheWriterTakes(t *testing.T) {
	q := NewReliable(1 << 20)
	if err := q.Push([]byte("m")); err != nil {
		t.Fatal(err)
	}
	c := q.Emptied()
	sink := newFakeSink()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := startRun(ctx, q, sink, 1<<20, nil)
	select {
	case <-c:
	case <-time.After(waitTimeout):
		t.Fatal("the writer took the message but Emptied never fired")
	}
	sink.expectWrites(t, "m")
	q.Close()
	waitRun(t, done)
	if !isClosed(q.Emptied()) {
		t.Fatal("Emptied of a closed queue is not closed")
	}
}
