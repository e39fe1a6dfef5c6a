package outbound

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// waitTimeout bounds every wait for an event in these tests.
const waitTimeout = 5 * time.Second

// fakeSink records writes on a channel so tests wait for them as events.
// buffered plays pion's BufferedAmount; onWrite, when set, runs at the
// start of each Write, on the writer goroutine.
type fakeSink struct {
	written  chan string
	buffered atomic.Uint64
	err      error
	onWrite  func(p []byte)
}

func newFakeSink() *fakeSink {
	return &fakeSink{written: make(chan string, 10000)}
}

func (s *fakeSink) Write(p []byte) (int, error) {
	if s.onWrite != nil {
		s.onWrite(p)
	}
	if s.err != nil {
		return 0, s.err
	}
	s.written <- string(p)
	return len(p), nil
}

func (s *fakeSink) Buffered() uint64 { return s.buffered.Load() }

// next returns the next written message, failing the test after a deadline.
func (s *fakeSink) next(t *testing.T) string {
	t.Helper()
	select {
	case m := <-s.written:
		return m
	case <-time.After(waitTimeout):
		t.Fatal("timed out waiting for a write")
		return ""
	}
}

// expectWrites waits for exactly these messages, in order.
func (s *fakeSink) expectWrites(t *testing.T, want ...string) {
	t.Helper()
	for i, w := range want {
		if got := s.next(t); got != w {
			t.Fatalf("write %d = %q, want %q", i, got, w)
		}
	}
}

// startRun runs q.Run in a goroutine and returns a channel with its result.
func startRun(ctx context.Context, q *Queue, sink Sink, highWater uint64, low <-chan struct{}) <-chan error {
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx, sink, highWater, low) }()
	return done
}

func waitRun(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(waitTimeout):
		t.Fatal("Run did not return")
		return nil
	}
}

func TestReliableByteBudget(t *testing.T) {
	tests := []struct {
		name      string
		maxBytes  int
		pushes    []int   // message sizes
		wantErr   []error // per push
		wantCount int
		wantBytes int
	}{
		{"under the budget", 10, []int{4, 4}, []error{nil, nil}, 2, 8},
		{"exactly the budget", 10, []int{4, 6}, []error{nil, nil}, 2, 10},
		{"one byte over is a slow consumer", 10, []int{4, 6, 1}, []error{nil, nil, ErrSlowConsumer}, 2, 10},
		{"a refused message is not queued", 10, []int{8, 4, 2}, []error{nil, ErrSlowConsumer, nil}, 2, 10},
		{"an empty queue takes one message over the budget", 10, []int{20, 1}, []error{nil, ErrSlowConsumer}, 1, 20},
		{"empty messages count as messages", 10, []int{0, 0, 10}, []error{nil, nil, nil}, 3, 10},
		{"growth past the initial ring", 1000, repeat(1, 3*initialRing), nil, 3 * initialRing, 3 * initialRing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := NewReliable(tt.maxBytes)
			for i, size := range tt.pushes {
				err := q.Push(make([]byte, size))
				var want error
				if tt.wantErr != nil {
					want = tt.wantErr[i]
				}
				if !errors.Is(err, want) || (want == nil && err != nil) {
					t.Fatalf("push %d (%d bytes) = %v, want %v", i, size, err, want)
				}
			}
			if n, b := q.Len(); n != tt.wantCount || b != tt.wantBytes {
				t.Fatalf("Len() = %d messages, %d bytes; want %d, %d", n, b, tt.wantCount, tt.wantBytes)
			}
			if q.Dropped() != 0 {
				t.Fatalf("a reliable queue dropped %d messages", q.Dropped())
			}
		})
	}
}

func seq(n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprint("m", i)
	}
	return s
}

func repeat(size, n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = size
	}
	return s
}

func TestReliableKeepsOrderAcrossGrowthAndWrap(t *testing.T) {
	q := NewReliable(1 << 20)
	sink := newFakeSink()
	var want []string
	// Wrap the ring (take some, push more) before it has to grow.
	for i := range initialRing - 2 {
		q.Push([]byte(fmt.Sprint(i)))
	}
	q.mu.Lock()
	batch := q.take(nil)
	q.mu.Unlock()
	for i := range 3 * initialRing {
		m := fmt.Sprint("m", i)
		want = append(want, m)
		if err := q.Push([]byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	if len(batch) != initialRing-2 {
		t.Fatalf("took %d messages, want %d", len(batch), initialRing-2)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := startRun(ctx, q, sink, 1<<20, nil)
	sink.expectWrites(t, want...)
	cancel()
	if err := waitRun(t, done); err != nil {
		t.Fatalf("Run after cancel = %v, want nil", err)
	}
}

func TestUnreliableDropsOldest(t *testing.T) {
	tests := []struct {
		name        string
		maxMessages int
		push        []string
		wantDropped uint64
		wantWrites  []string
	}{
		{"under the limit keeps all", 3, []string{"a", "b"}, 0, []string{"a", "b"}},
		{"at the limit keeps all", 3, []string{"a", "b", "c"}, 0, []string{"a", "b", "c"}},
		{"over the limit drops the oldest", 3, []string{"a", "b", "c", "d", "e"}, 2, []string{"c", "d", "e"}},
		{"a limit of one keeps the newest", 1, []string{"a", "b", "c"}, 2, []string{"c"}},
		{"a limit below one means one", 0, []string{"a", "b"}, 1, []string{"b"}},
		{"growing to a limit that is not a power of two", 2*initialRing + 3, seq(2*initialRing + 5), 2, seq(2*initialRing + 5)[2:]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := NewUnreliable(tt.maxMessages)
			for _, m := range tt.push {
				if err := q.Push([]byte(m)); err != nil {
					t.Fatalf("Push(%q) = %v", m, err)
				}
			}
			if q.Dropped() != tt.wantDropped {
				t.Fatalf("Dropped() = %d, want %d", q.Dropped(), tt.wantDropped)
			}
			sink := newFakeSink()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := startRun(ctx, q, sink, 1<<20, nil)
			sink.expectWrites(t, tt.wantWrites...)
			q.Close()
			if err := waitRun(t, done); err != nil {
				t.Fatalf("Run after Close = %v, want nil", err)
			}
			if len(sink.written) != 0 {
				t.Fatalf("%d extra writes", len(sink.written))
			}
		})
	}
}

// TestRunTakesEverythingQueuedInOneBatch holds the writer in its first write
// while more messages arrive, then checks that it took all of them at once:
// the queue is already empty when the second batch's first write happens.
func TestRunTakesEverythingQueuedInOneBatch(t *testing.T) {
	q := NewReliable(1 << 20)
	sink := newFakeSink()
	entered, release := make(chan struct{}), make(chan struct{})
	var queued []int // Len() at the start of each write; only the writer goroutine appends
	sink.onWrite = func(p []byte) {
		if string(p) == "first" {
			close(entered)
			<-release
		}
		n, _ := q.Len()
		queued = append(queued, n)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := startRun(ctx, q, sink, 1<<20, nil)
	q.Push([]byte("first"))
	select {
	case <-entered:
	case <-time.After(waitTimeout):
		t.Fatal("Run never wrote the first message")
	}
	for i := range 5 {
		q.Push(fmt.Appendf(nil, "m%d", i))
	}
	close(release)
	sink.expectWrites(t, "first", "m0", "m1", "m2", "m3", "m4")
	q.Close()
	waitRun(t, done)
	// "first" saw m0..m4 queued behind it; the writes of the second batch
	// saw an empty queue because Run had taken all five at once.
	want := []int{5, 0, 0, 0, 0, 0}
	if !slices.Equal(queued, want) {
		t.Fatalf("messages queued at each write = %v, want %v", queued, want)
	}
}

// TestRunHonoursHighWater runs in a synctest bubble: synctest.Wait returns
// once Run is blocked, so "nothing was written" is proven, not hoped for
// after a sleep.
func TestRunHonoursHighWater(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := NewReliable(1 << 20)
		sink := newFakeSink()
		sink.buffered.Store(2000)
		low := make(chan struct{}, 1)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := startRun(ctx, q, sink, 1000, low)

		q.Push([]byte("held"))
		synctest.Wait()
		if len(sink.written) != 0 {
			t.Fatal("Run wrote while Buffered() was above highWater")
		}

		// A stale low signal while still above the mark must not release it.
		low <- struct{}{}
		synctest.Wait()
		if len(sink.written) != 0 {
			t.Fatal("Run wrote on a low signal while Buffered() was still above highWater")
		}

		sink.buffered.Store(100)
		low <- struct{}{}
		sink.expectWrites(t, "held")
		if n, _ := q.Len(); n != 0 {
			t.Fatalf("%d messages still queued", n)
		}

		// Writing at the mark is allowed; only above it waits.
		sink.buffered.Store(1000)
		q.Push([]byte("at the mark"))
		sink.expectWrites(t, "at the mark")
		cancel()
		if err := waitRun(t, done); err != nil {
			t.Fatalf("Run after cancel = %v", err)
		}
	})
}

func TestRunStops(t *testing.T) {
	writeErr := errors.New("sctp stream closed")
	tests := []struct {
		name    string
		stop    func(q *Queue, cancel context.CancelFunc, sink *fakeSink)
		wantErr error
	}{
		{"Close while idle", func(q *Queue, _ context.CancelFunc, _ *fakeSink) { q.Close() }, nil},
		{"ctx done while idle", func(_ *Queue, cancel context.CancelFunc, _ *fakeSink) { cancel() }, nil},
		{"Close while waiting for low", func(q *Queue, _ context.CancelFunc, s *fakeSink) {
			s.buffered.Store(1 << 30)
			q.Push([]byte("x"))
			q.Close()
		}, nil},
		{"ctx done while waiting for low", func(q *Queue, cancel context.CancelFunc, s *fakeSink) {
			s.buffered.Store(1 << 30)
			q.Push([]byte("x"))
			cancel()
		}, nil},
		{"a failed write", func(q *Queue, _ context.CancelFunc, s *fakeSink) {
			s.err = writeErr // ordered before the writer reads it by Push's lock
			q.Push([]byte("x"))
		}, writeErr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := NewReliable(100)
			sink := newFakeSink()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := startRun(ctx, q, sink, 1000, make(chan struct{}))
			// Once "ready" is written Run is running and idle.
			q.Push([]byte("ready"))
			sink.expectWrites(t, "ready")
			tt.stop(q, cancel, sink)
			err := waitRun(t, done)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("Run = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestRunReturnsAtOnceOnAClosedQueue(t *testing.T) {
	q := NewUnreliable(4)
	q.Push([]byte("x"))
	q.Close()
	done := startRun(context.Background(), q, newFakeSink(), 1000, nil)
	if err := waitRun(t, done); err != nil {
		t.Fatalf("Run = %v", err)
	}
}

func TestClose(t *testing.T) {
	q := NewReliable(100)
	q.Push([]byte("queued"))
	q.Close()
	q.Close() // twice is fine
	if err := q.Push([]byte("late")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Push after Close = %v, want ErrClosed", err)
	}
	if n, b := q.Len(); n != 0 || b != 0 {
		t.Fatalf("Close kept %d messages, %d bytes", n, b)
	}
}

// TestConcurrentPush is for the race detector and checks that each
// producer's messages arrive complete and in its order.
func TestConcurrentPush(t *testing.T) {
	const producers, perProducer = 4, 500
	q := NewReliable(1 << 30)
	sink := newFakeSink()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := startRun(ctx, q, sink, 1<<20, nil)

	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for i := range perProducer {
				if err := q.Push(fmt.Appendf(nil, "%d %d", p, i)); err != nil {
					t.Errorf("Push: %v", err)
					return
				}
			}
		})
	}
	next := make([]int, producers)
	for range producers * perProducer {
		var p, i int
		if _, err := fmt.Sscanf(sink.next(t), "%d %d", &p, &i); err != nil {
			t.Fatal(err)
		}
		if i != next[p] {
			t.Fatalf("producer %d: got message %d, want %d", p, i, next[p])
		}
		next[p]++
	}
	wg.Wait()
	q.Close()
	if err := waitRun(t, done); err != nil {
		t.Fatalf("Run = %v", err)
	}
}

func TestPushDoesNotAllocate(t *testing.T) {
	msg := []byte("shared message")
	reliable := NewReliable(1 << 20)
	unreliable := NewUnreliable(4 * initialRing)
	var batch [][]byte
	// Warm the rings up to their steady-state size.
	for range 64 {
		reliable.Push(msg)
	}
	for range 4 * initialRing {
		unreliable.Push(msg)
	}
	reliable.mu.Lock()
	batch = reliable.take(batch[:0])
	reliable.mu.Unlock()

	tests := []struct {
		name string
		f    func()
	}{
		{"reliable", func() {
			for range 64 {
				reliable.Push(msg)
			}
			reliable.mu.Lock()
			batch = reliable.take(batch[:0])
			reliable.mu.Unlock()
		}},
		{"unreliable, dropping", func() { unreliable.Push(msg) }},
	}
	for _, tt := range tests {
		if n := testing.AllocsPerRun(100, tt.f); n != 0 {
			t.Errorf("%s: %v allocations per run, want 0", tt.name, n)
		}
	}
}

// TestRunCoalesces: a busy writer waits one window before taking a batch, so
// messages pushed one by one leave together; an idle writer's first message
// leaves at once.
func TestRunCoalesces(t *testing.T) {
	const window = time.Second // far longer than five Pushes take, or a scheduling stall
	q := NewReliable(1 << 20)
	q.SetCoalesce(window)
	sink := newFakeSink()
	var pushed atomic.Int32
	var atM0 struct{ pushed, queued int } // written by the writer goroutine, read after expectWrites
	sink.onWrite = func(p []byte) {
		if string(p) == "m0" {
			atM0.pushed = int(pushed.Load())
			atM0.queued, _ = q.Len()
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := startRun(ctx, q, sink, 1<<20, nil)

	start := time.Now()
	q.Push([]byte("first"))
	sink.expectWrites(t, "first")
	if waited := time.Since(start); waited >= window {
		t.Fatalf("an idle writer's first message waited %v, want it sent at once", waited)
	}
	for i := range 5 {
		q.Push(fmt.Appendf(nil, "m%d", i))
		pushed.Add(1)
	}
	sink.expectWrites(t, "m0", "m1", "m2", "m3", "m4")
	q.Close()
	waitRun(t, done)
	if atM0.pushed != 5 || atM0.queued != 0 {
		t.Fatalf("when m0 was written, %d of 5 were pushed and %d still queued; want all 5 pushed and taken in one batch",
			atM0.pushed, atM0.queued)
	}
}

func TestTicketIsReleasedOnceItsMessageLeavesTheQueue(t *testing.T) {
	t.Run("written by Run", func(t *testing.T) {
		q := NewReliable(1 << 20)
		sink := newFakeSink()
		// Run is held in its first write until release, so the tickets of
		// the messages behind it stay queued for as long as the test looks.
		writing, release := make(chan struct{}), make(chan struct{})
		sink.onWrite = func(p []byte) {
			if string(p) == "first" {
				close(writing)
				<-release
			}
		}
		first, err := q.PushTicket([]byte("first"))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := startRun(ctx, q, sink, 1<<20, nil)
		select {
		case <-writing:
		case <-time.After(waitTimeout):
			t.Fatal("Run did not write the first message")
		}
		if !q.Released(first) {
			t.Fatal("the message being written still counts as queued")
		}
		second, _ := q.PushTicket([]byte("second"))
		third, _ := q.PushTicket([]byte("third"))
		if q.Released(second) || q.Released(third) {
			t.Fatal("a message the writer has not taken counts as released")
		}
		close(release)
		sink.expectWrites(t, "first", "second", "third")
		if !q.Released(second) || !q.Released(third) {
			t.Fatal("written messages still count as queued")
		}
		cancel()
		waitRun(t, done)
	})
	t.Run("dropped as the oldest", func(t *testing.T) {
		q := NewUnreliable(2)
		a, _ := q.PushTicket([]byte("a"))
		b, _ := q.PushTicket([]byte("bb"))
		c, _ := q.PushTicket([]byte("ccc"))
		if !q.Released(a) || q.Released(b) || q.Released(c) {
			t.Fatalf("after dropping a: released a=%v b=%v c=%v, want true false false", q.Released(a), q.Released(b), q.Released(c))
		}
	})
	t.Run("released by Close", func(t *testing.T) {
		q := NewReliable(100)
		a, _ := q.PushTicket([]byte("a"))
		q.Close()
		if !q.Released(a) {
			t.Fatal("Close kept a message counted as queued")
		}
		if _, err := q.PushTicket([]byte("b")); !errors.Is(err, ErrClosed) {
			t.Fatalf("PushTicket after Close = %v, want ErrClosed", err)
		}
	})
	t.Run("refused by the budget", func(t *testing.T) {
		q := NewReliable(4)
		a, _ := q.PushTicket([]byte("aaaa"))
		if _, err := q.PushTicket([]byte("b")); !errors.Is(err, ErrSlowConsumer) {
			t.Fatalf("PushTicket over the budget = %v, want ErrSlowConsumer", err)
		}
		q.mu.Lock()
		q.take(nil)
		q.mu.Unlock()
		if !q.Released(a) {
			t.Fatal("a refused push moved the ticket count")
		}
	})
}

// Take drains the queue for an owner without a writer (the client SDK's
// reconnection queue): everything in order, appended to the batch given,
// and the byte budget is free again.
func TestTakeDrainsInOrderAndFreesTheBudget(t *testing.T) {
	q := NewReliable(10)
	for _, m := range []string{"aaaa", "bbbb"} {
		if err := q.Push([]byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Push([]byte("cccc")); !errors.Is(err, ErrSlowConsumer) {
		t.Fatalf("push over the budget: %v, want ErrSlowConsumer", err)
	}
	got := q.Take([][]byte{[]byte("carried")})
	if want := []string{"carried", "aaaa", "bbbb"}; len(got) != 3 || string(got[0]) != want[0] || string(got[1]) != want[1] || string(got[2]) != want[2] {
		t.Fatalf("Take = %q, want %q", got, want)
	}
	if n, b := q.Len(); n != 0 || b != 0 {
		t.Fatalf("after Take: %d messages, %d bytes queued, want none", n, b)
	}
	if err := q.Push([]byte("cccc")); err != nil {
		t.Fatalf("push after Take: %v", err)
	}
}
