package coordinator

import "sync"

// sendQueue is a peer's outbound queue, bounded in bytes: a peer that stops
// reading its socket costs at most limit bytes before it is closed as a slow
// consumer, and it never blocks the peer whose message it is being handed.
//
// Any goroutine may push (other peers' read loops relay through it); only the
// peer's write loop drains. mu guards msgs, size and closed.
type sendQueue struct {
	mu     sync.Mutex
	msgs   [][]byte
	size   int
	limit  int
	closed bool
	// ready has capacity 1: a value in it means "there may be something to
	// drain", so a push never blocks and the writer never misses a wake-up.
	ready chan struct{}
}

func newSendQueue(limit int) *sendQueue {
	return &sendQueue{limit: limit, ready: make(chan struct{}, 1)}
}

// push queues msg. It fails with errSlowConsumer when msg would take the
// queue over its limit (a single message larger than the limit is still
// accepted into an empty queue) and with errPeerGone after close.
func (q *sendQueue) push(msg []byte) error {
	q.mu.Lock()
	switch {
	case q.closed:
		q.mu.Unlock()
		return errPeerGone
	case q.size > 0 && q.size+len(msg) > q.limit:
		q.mu.Unlock()
		return errSlowConsumer
	}
	q.msgs = append(q.msgs, msg)
	q.size += len(msg)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
	return nil
}

// drain moves every queued message into buf (reused between calls) and
// returns it.
func (q *sendQueue) drain(buf [][]byte) [][]byte {
	q.mu.Lock()
	buf = append(buf, q.msgs...)
	clear(q.msgs)
	q.msgs = q.msgs[:0]
	q.size = 0
	q.mu.Unlock()
	return buf
}

// close drops what is queued and makes every later push fail.
func (q *sendQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.msgs = nil
	q.size = 0
	q.mu.Unlock()
}
