// Package history keeps the bounded, numbered history of a topic's reliable
// messages on one communication server, for clients that reconnect and ask
// for what they missed (SubscriptionMessage.recover).
//
// A stream's position is (epoch, offset). The epoch is drawn at random when
// the stream starts (the server started carrying the topic, restarted, or
// lost a server link and so may have missed messages): offsets of another
// epoch are never compared. Offsets count the stream's messages from 1, so
// offset 0 is "nothing seen yet". Each server numbers what it delivers to
// its own clients; a client that reconnects to another server finds another
// epoch there and is told recovered=false.
//
// The package is pure: no locks (the caller serializes a stream, since
// numbering a message and delivering it must be one step with respect to a
// recovery) and no clock (the caller passes now).
package history

import (
	"math/rand/v2"
	"time"
)

// Ring is one topic's stream: the last messages (at most max, holding at
// most maxBytes of them, none older than ttl when ttl > 0), each with its
// offset. Not safe for concurrent use.
type Ring struct {
	epoch uint64
	// next is the offset the next message gets; the newest held is next-1.
	next uint64
	max  int
	// maxBytes bounds the bytes held (0: no bound); bytes is what is held.
	maxBytes int
	bytes    int
	ttl      time.Duration
	// buf is a ring of n entries from head, grown by doubling up to max.
	buf  []entry
	head int
	n    int
}

type entry struct {
	at   time.Time
	msg  []byte
	from uint64 // the sender's alias, for AppendFrom's callers
}

// NewEpoch returns a fresh random epoch, never 0 (0 is "no position").
func NewEpoch() uint64 {
	for {
		if e := rand.Uint64(); e != 0 {
			return e
		}
	}
}

// NewRing returns an empty stream of epoch holding at most max messages
// (max < 1 is taken as 1), none older than ttl (0: no age limit).
func NewRing(epoch uint64, maxMessages int, ttl time.Duration) *Ring {
	return &Ring{epoch: epoch, next: 1, max: max(maxMessages, 1), ttl: ttl}
}

// SetMaxBytes bounds the bytes the ring holds (0: no bound): Append drops
// the oldest messages until the new one fits. The newest message is always
// held, whatever its size, so that a stream's position is always in it.
func (r *Ring) SetMaxBytes(n int) { r.maxBytes = max(n, 0) }

// Bytes is how many bytes of messages the ring holds.
func (r *Ring) Bytes() int { return r.bytes }

// DropOldest drops the oldest message held, if there is one besides the
// newest, and returns the bytes it freed: for a caller that bounds the
// bytes of many rings together.
func (r *Ring) DropOldest() int {
	if r.n <= 1 {
		return 0
	}
	return r.drop()
}

// drop removes the oldest message held (r.n > 0) and returns its size.
func (r *Ring) drop() int {
	size := len(r.buf[r.head].msg)
	r.buf[r.head] = entry{}
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	r.bytes -= size
	return size
}

// Epoch is the stream's epoch.
func (r *Ring) Epoch() uint64 { return r.epoch }

// Next is the offset the next Append gives its message: the caller encodes
// it into the message before appending.
func (r *Ring) Next() uint64 { return r.next }

// Last is the offset of the newest message the stream ever numbered (0 if
// none), held or not: where the stream stands.
func (r *Ring) Last() uint64 { return r.next - 1 }

// Len is how many messages the ring holds.
func (r *Ring) Len() int { return r.n }

// first is the offset of the oldest message held (next when none is).
func (r *Ring) first() uint64 { return r.next - uint64(r.n) }

// At returns message offset and its sender (as given to AppendFrom), ok
// false when the ring does not hold it (pushed out, or not yet numbered).
// The message is the ring's, shared: do not modify it.
func (r *Ring) At(offset uint64) (msg []byte, from uint64, ok bool) {
	if offset < r.first() || offset >= r.next {
		return nil, 0, false
	}
	e := r.buf[(r.head+int(offset-r.first()))%len(r.buf)]
	return e.msg, e.from, true
}

// Cursor answers a client whose last seen message was (epoch, offset), as
// Since does, without gathering the replay: the offset its replay starts
// at (from; the replay is from..Last(), empty when from > Last()) and
// whether that is all it missed. ok is false when nothing is to be replayed
// because the position says nothing here (another epoch, or ahead of the
// stream); recovered is false then too.
func (r *Ring) Cursor(epoch, offset uint64, now time.Time) (from uint64, recovered, ok bool) {
	r.Expire(now)
	if epoch != r.epoch || offset > r.Last() {
		return r.next, false, false
	}
	from = offset + 1
	return max(from, r.first()), from >= r.first(), true
}

// Append adds msg as message Next(), dropping the oldest past max messages
// or max bytes. It returns the change in bytes held (negative when it
// dropped more than it added). msg is kept, not copied: it must not be
// modified afterwards.
func (r *Ring) Append(msg []byte, now time.Time) (delta int) {
	return r.AppendFrom(msg, 0, now)
}

// AppendFrom is Append of a message sent by from (an alias), which At
// returns with it: a replay must not echo a client's own messages.
func (r *Ring) AppendFrom(msg []byte, from uint64, now time.Time) (delta int) {
	before := r.bytes
	r.Expire(now)
	if r.n == r.max {
		r.drop()
	}
	for r.maxBytes > 0 && r.n > 0 && r.bytes+len(msg) > r.maxBytes {
		r.drop()
	}
	if r.n == len(r.buf) {
		r.grow()
	}
	r.buf[(r.head+r.n)%len(r.buf)] = entry{at: now, msg: msg, from: from}
	r.n++
	r.next++
	r.bytes += len(msg)
	return r.bytes - before
}

func (r *Ring) grow() {
	size := min(max(2*len(r.buf), 8), r.max)
	next := make([]entry, size)
	for i := range r.n {
		next[i] = r.buf[(r.head+i)%len(r.buf)]
	}
	r.buf, r.head = next, 0
}

// Expire drops the messages older than ttl and returns the bytes it freed.
func (r *Ring) Expire(now time.Time) (freed int) {
	if r.ttl <= 0 {
		return 0
	}
	for r.n > 0 && now.Sub(r.buf[r.head].at) > r.ttl {
		freed += r.drop()
	}
	return freed
}

// Since answers a client whose last seen message was (epoch, offset): the
// messages after it, oldest first, and whether they are all it missed.
// recovered is false when the epoch is another (nothing is replayed: its
// offsets say nothing here), when the offset is ahead of the stream
// (nothing is replayed), or when the oldest message after it is gone (all
// that is held is replayed: the client has a gap before it). The slices are
// the ring's messages, shared: do not modify them.
func (r *Ring) Since(epoch, offset uint64, now time.Time) (replay [][]byte, recovered bool) {
	from, recovered, ok := r.Cursor(epoch, offset, now)
	if !ok {
		return nil, false
	}
	for off := from; off < r.next; off++ {
		i := (r.head + int(off-r.first())) % len(r.buf)
		replay = append(replay, r.buf[i].msg)
	}
	return replay, recovered
}
