// Package outbound owns per-peer, per-channel writer flow control: a queue
// that producers fill from any goroutine and one writer goroutine drains
// into a data channel, so that one slow peer never stalls the relay or the
// other peers.
//
// A reliable channel must not lose messages, so its queue is bounded in
// bytes and a peer that would go over the budget is a slow consumer: Push
// fails and the caller disconnects it (nats' queueOutbound and max_pending,
// centrifuge's DisconnectSlow). Behind a writer that flow-controls on its
// sink's buffered amount (a high water above 0: pion's data channels, whose
// Write never blocks), only a backlog the peer caused counts: while that
// writer is not waiting for the sink to drain, what is queued is waiting
// for the writer's own turn on a CPU, the server's delay rather than the
// peer's, and a starved server must not cut peers that read everything it
// sent them. See Queue.held. An unreliable channel may lose messages, so
// its queue keeps a fixed number and drops the oldest, which is the one
// least worth delivering late. An unreliable queue carrying state may also
// keep only the newest message of each sender and topic (PushLatest) and
// drop what has waited longer than a bound (SetMaxDelay): see conflate.go.
//
// Once its owner knows the peer unpacks batches (EnableBatching, with the
// protocol's framing), the writer sends what it takes in one wake-up as few
// framed batches as a size bound allows (batch.go).
//
// # Locks
//
// Queue.mu is the package's only lock and a leaf: Push holds it for a few
// stores, Run only to take the queued messages into its batch, and
// EnableBatching for two stores, never across a Write to the sink or a
// wait. Callers may push while holding their own
// locks (the coordinator does, under its directory's).
package outbound

import (
	"sync"
	"sync/atomic"
	"time"
)

// Queue is one channel's outbound queue. Producers call Push from any
// goroutine; exactly one writer goroutine (Run) drains it.
type Queue struct {
	// mu guards the fields below it. Push holds it for a few stores; Run
	// holds it only to move the queued messages into its batch.
	mu sync.Mutex
	// ring holds the queued messages, head is the oldest, count how many.
	// It starts small, since most peers are idle most of the time, and
	// grows by doubling: without limit for a reliable queue (its bound is
	// in bytes), up to maxMessages for an unreliable one.
	ring  [][]byte
	head  int
	count int
	bytes int
	// closed is set under mu by Close; atomic so that Run checks it
	// without the lock.
	closed atomic.Bool
	// pushed and left count the bytes that ever entered and left the queue
	// (taken by the writer, dropped, or released by Close), so that a
	// Ticket can tell whether its message is still queued. pushed is
	// guarded by mu; left is written under mu and atomic so that Released
	// reads it without the lock.
	pushed uint64
	left   atomic.Uint64
	// emptied, guarded by mu, is made by Emptied for an owner waiting for
	// the writer to take what is queued, and closed (then forgotten) by the
	// next take or by Close: nil while nobody waits, so the hot path pays a
	// nil check only.
	emptied chan struct{}
	// msgs counts the messages that ever entered the queue, so that the
	// oldest queued one is message number msgs-count. batchFrom is the
	// first message number that may share a batch, batchLimit a batch's
	// size bound (0: no batching) and framer its framing; set by
	// EnableBatching. All four guarded by mu.
	msgs       uint64
	batchFrom  uint64
	batchLimit int
	framer     Framer
	// gated is set once the queue's writer flow-controls on its sink's
	// buffered amount (Lanes.Attach, Run, with a high water above 0); held
	// while that writer waits for the sink to drain below its high water,
	// from the wake-up that found it above until the writer takes again.
	// A gated queue refuses a message over its budget only while held: the
	// peer has not acknowledged high water's worth, so the backlog is its
	// own. Not held, the writer takes the whole queue at its next wake-up.
	// A queue with no such writer (a blocking sink, or none yet) refuses
	// at the budget whatever the writer does. Both guarded by mu.
	gated, held bool
	// tookAt is when a writer last took the queued messages (or the queue
	// was made), as monotonic nanoseconds since epoch; guarded by mu. A
	// refused Push reports how long ago that was (BudgetError.WriterIdle):
	// a backlog that built up while the writer was not taking is the
	// server's own delay, not the peer's.
	tookAt int64
	// written counts the messages Run has handed to the sink, each one
	// inner message of a batch included; batches the frames it wrote;
	// writes the sink's Write calls (a frame or a message alone).
	written, batches, writes atomic.Uint64

	// Set at construction (coalesce by SetCoalesce before Run), then
	// read-only.
	reliable    bool
	maxBytes    int
	maxMessages int
	coalesce    time.Duration

	// dropped counts messages an unreliable queue dropped (full, superseded
	// or too old); atomic so that metrics read it without the lock.
	dropped atomic.Uint64
	// superseded counts the dropped messages PushLatest replaced.
	superseded atomic.Uint64

	// Latest-wins and the delay bound of an unreliable queue (conflate.go),
	// guarded by mu. keys and at run parallel to ring, allocated on first
	// use so that a queue without either has neither; index maps a key to
	// the number of its queued message (as msgs counts them: ring[head] is
	// number msgs-count). maxDelay is set by SetMaxDelay before Run, then
	// read-only; base is the origin of at.
	keys     []uint64
	at       []int64
	index    map[uint64]uint64
	maxDelay time.Duration
	base     time.Time

	// wake has capacity 1 and is Run's only wait besides low: Push sends to
	// it (without blocking) when the queue goes from empty to not empty,
	// the only moment the writer may be waiting for messages, and Close and
	// Run's context do too. One channel per queue, rather than a select that
	// includes a context's Done channel, keeps hundreds of writers from
	// contending on one shared channel lock each time they park.
	wake chan struct{}
}

// initialRing is a reliable queue's starting capacity in messages.
const initialRing = 16

// NewReliable returns a FIFO queue bounded in bytes. A Push that would take
// it over maxBytes returns ErrSlowConsumer and does not queue the message;
// once a flow-controlling writer drains it, only while that writer waits for
// its sink (see the package doc). An empty queue accepts any one message, so
// a budget smaller than the largest message cannot disconnect a peer that
// keeps up.
func NewReliable(maxBytes int) *Queue {
	return &Queue{
		ring:     make([][]byte, initialRing),
		reliable: true,
		maxBytes: maxBytes,
		tookAt:   monotonic(),
		wake:     make(chan struct{}, 1),
	}
}

// epoch is the origin of monotonic.
var epoch = time.Now()

// monotonic is the monotonic clock in nanoseconds since epoch: a time stamp
// that fits an int64 field.
func monotonic() int64 { return int64(time.Since(epoch)) }

// NewUnreliable returns a queue that keeps at most maxMessages (at least 1):
// a Push to a full queue drops the oldest message and counts it in Dropped.
func NewUnreliable(maxMessages int) *Queue {
	maxMessages = max(maxMessages, 1)
	return &Queue{
		ring:        make([][]byte, min(initialRing, maxMessages)),
		maxMessages: maxMessages,
		wake:        make(chan struct{}, 1),
	}
}

// Push queues msg for the writer. msg is shared with other queues (the relay
// encodes a message once for all its subscribers): the queue never modifies
// it and drops its reference once it is written. It returns ErrSlowConsumer
// (reliable queue over its byte budget) or ErrClosed; it never blocks on the
// writer.
func (q *Queue) Push(msg []byte) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.push(msg, 0)
}

// Ticket is a message's place in its queue, for Released.
type Ticket uint64

// PushTicket is Push that also returns the message's Ticket, for an owner
// that bounds what one producer may have queued (the coordinator bounds the
// bytes one sender has queued towards one receiver): it counts the bytes it
// pushed and, with Released, forgets them once they have left the queue.
func (q *Queue) PushTicket(msg []byte) (Ticket, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.push(msg, 0); err != nil {
		return 0, err
	}
	return Ticket(q.pushed), nil
}

// Released reports whether the message pushed with t has left the queue:
// taken by the writer, dropped as the oldest of a full unreliable queue, or
// released by Close. The queue is FIFO, so a message has left once as many
// bytes have left as had entered up to and including it.
func (q *Queue) Released(t Ticket) bool {
	return q.left.Load() >= uint64(t)
}

// push is Push with the lock held; a key other than 0 makes msg supersede
// the queued message of the same key (PushLatest).
func (q *Queue) push(msg []byte, key uint64) error {
	if q.closed.Load() {
		return ErrClosed
	}
	if key != 0 && !q.reliable && q.supersede(msg, key) {
		return nil
	}
	switch {
	case q.reliable:
		if q.count > 0 && q.bytes+len(msg) > q.maxBytes && (q.held || !q.gated) {
			return &BudgetError{Queued: q.bytes, Messages: q.count, Size: len(msg), Budget: q.maxBytes,
				WriterIdle: time.Duration(monotonic() - q.tookAt)}
		}
		if q.count == len(q.ring) {
			q.grow()
		}
	case q.count == len(q.ring) && len(q.ring) < q.maxMessages:
		q.grow()
	case q.count == len(q.ring):
		// Full unreliable queue: the oldest message is the least useful.
		q.bytes -= len(q.ring[q.head])
		q.left.Add(uint64(len(q.ring[q.head])))
		q.ring[q.head] = nil
		q.head = (q.head + 1) % len(q.ring)
		q.count--
		q.dropped.Add(1)
	}
	slot := (q.head + q.count) % len(q.ring)
	q.ring[slot] = msg
	if key != 0 || q.keys != nil || q.maxDelay > 0 {
		q.mark(slot, key)
	}
	q.count++
	q.msgs++
	q.bytes += len(msg)
	q.pushed += uint64(len(msg))
	if q.count == 1 {
		q.signal()
	}
	return nil
}

// signal wakes the writer without blocking; a wake-up already pending is
// enough, since Run looks at the whole state each time it wakes.
func (q *Queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// grow doubles the ring (up to maxMessages for an unreliable queue), keeping
// the order. Lock held on entry.
func (q *Queue) grow() {
	size := 2 * len(q.ring)
	if !q.reliable {
		size = min(size, q.maxMessages)
	}
	q.ring = regrow(q.ring, q.head, size)
	if q.keys != nil {
		q.keys = regrow(q.keys, q.head, size)
	}
	if q.at != nil {
		q.at = regrow(q.at, q.head, size)
	}
	q.head = 0
}

// regrow returns a ring of size holding ring's elements from head on, in
// order, from index 0.
func regrow[T any](ring []T, head, size int) []T {
	next := make([]T, size)
	n := copy(next, ring[head:])
	copy(next[n:], ring[:head])
	return next
}

// take moves every queued message to the end of batch, oldest first, and
// empties the queue; with a delay bound, those queued for longer are dropped
// instead (takeFresh). Lock held on entry.
func (q *Queue) take(batch [][]byte) [][]byte {
	q.notifyEmptied()
	if q.reliable {
		q.tookAt = monotonic()
	}
	q.held = false
	if q.keys != nil || q.at != nil {
		return q.takeFresh(batch)
	}
	end := q.head + q.count
	if end <= len(q.ring) {
		batch = append(batch, q.ring[q.head:end]...)
		clear(q.ring[q.head:end])
	} else {
		batch = append(batch, q.ring[q.head:]...)
		batch = append(batch, q.ring[:end-len(q.ring)]...)
		clear(q.ring[q.head:])
		clear(q.ring[:end-len(q.ring)])
	}
	q.left.Add(uint64(q.bytes))
	q.head, q.count, q.bytes = 0, 0, 0
	return batch
}

// Take moves every queued message to the end of batch, oldest first, and
// empties the queue: for an owner that drains the queue itself, at moments
// it chooses, instead of running a writer (the client SDK holds reliable
// publishes while it reconnects and writes them once the link is back).
func (q *Queue) Take(batch [][]byte) [][]byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.take(batch)
}

// Dropped returns how many messages the queue dropped because it was full
// (unreliable queues only).
func (q *Queue) Dropped() uint64 {
	return q.dropped.Load()
}

// Len returns how many messages and bytes are queued and not yet taken by
// the writer.
func (q *Queue) Len() (messages, bytes int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.count, q.bytes
}

// Close stops the queue: Push returns ErrClosed from now on, queued messages
// are released, and Run returns. Safe to call more than once and from any
// goroutine.
func (q *Queue) Close() {
	q.mu.Lock()
	q.closed.Store(true)
	q.left.Store(q.pushed)
	clear(q.ring)
	clear(q.index)
	q.head, q.count, q.bytes = 0, 0, 0
	q.notifyEmptied()
	q.mu.Unlock()
	q.signal()
}

// Emptied returns a channel closed once nothing is queued: at once if the
// queue is empty or closed, else when the writer next takes what is queued
// (or Close releases it). It lets a producer that fills the queue in rounds
// (a history replay) wait for room without polling.
func (q *Queue) Emptied() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.count == 0 || q.closed.Load() {
		return closedChan
	}
	if q.emptied == nil {
		q.emptied = make(chan struct{})
	}
	return q.emptied
}

// notifyEmptied wakes the Emptied waiters. Lock held on entry; called where
// the queue becomes empty.
func (q *Queue) notifyEmptied() {
	if q.emptied != nil {
		close(q.emptied)
		q.emptied = nil
	}
}

// closedChan is what Emptied returns when there is nothing to wait for.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// gate marks the queue as drained by a writer that flow-controls on its
// sink's buffered amount (see Queue.gated), unless stopped (that writer has
// returned) reports true under the lock.
func (q *Queue) gate(stopped *atomic.Bool) {
	q.mu.Lock()
	q.gated = stopped == nil || !stopped.Load()
	q.mu.Unlock()
}

// ungate is called by a writer that returns: with nobody left to take the
// queue, a backlog is nobody's delay, and the budget counts again.
func (q *Queue) ungate() {
	q.mu.Lock()
	q.gated, q.held = false, false
	q.mu.Unlock()
}

// hold records that the writer found its sink above high water and waits
// for it to drain: until it takes again, a message over the budget is the
// peer's backlog.
func (q *Queue) hold() {
	q.mu.Lock()
	q.held = true
	q.mu.Unlock()
}
