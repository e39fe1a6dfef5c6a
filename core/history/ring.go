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

// Ring is one topic's stream: the last messages (at most max, none older
// than ttl when ttl > 0), each with its offset. Not safe for concurrent
// use.
type Ring struct {
	epoch uint64
	// next is the offset the next message gets; the newest held is next-1.
	next uint64
	max  int
	ttl  time.Duration
	// buf is a ring of n entries from head, grown by doubling up to max.
	buf  []entry
	head int
	n    int
}

type entry struct {
	at  time.Time
	msg []byte
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

// Append adds msg as message Next(), dropping the oldest past max. msg is
// kept, not copied: it must not be modified afterwards.
func (r *Ring) Append(msg []byte, now time.Time) {
	r.Expire(now)
	if r.n == r.max {
		r.buf[r.head] = entry{}
		r.head = (r.head + 1) % len(r.buf)
		r.n--
	}
	if r.n == len(r.buf) {
		r.grow()
	}
	r.buf[(r.head+r.n)%len(r.buf)] = entry{at: now, msg: msg}
	r.n++
	r.next++
}

func (r *Ring) grow() {
	size := min(max(2*len(r.buf), 8), r.max)
	next := make([]entry, size)
	for i := range r.n {
		next[i] = r.buf[(r.head+i)%len(r.buf)]
	}
	r.buf, r.head = next, 0
}

// Expire drops the messages older than ttl.
func (r *Ring) Expire(now time.Time) {
	if r.ttl <= 0 {
		return
	}
	for r.n > 0 && now.Sub(r.buf[r.head].at) > r.ttl {
		r.buf[r.head] = entry{}
		r.head = (r.head + 1) % len(r.buf)
		r.n--
	}
}

// Since answers a client whose last seen message was (epoch, offset): the
// messages after it, oldest first, and whether they are all it missed.
// recovered is false when the epoch is another (nothing is replayed: its
// offsets say nothing here), when the offset is ahead of the stream
// (nothing is replayed), or when the oldest message after it is gone (all
// that is held is replayed: the client has a gap before it). The slices are
// the ring's messages, shared: do not modify them.
func (r *Ring) Since(epoch, offset uint64, now time.Time) (replay [][]byte, recovered bool) {
	r.Expire(now)
	if epoch != r.epoch || offset > r.Last() {
		return nil, false
	}
	from := offset + 1
	recovered = from >= r.first()
	from = max(from, r.first())
	for off := from; off < r.next; off++ {
		i := (r.head + int(off-r.first())) % len(r.buf)
		replay = append(replay, r.buf[i].msg)
	}
	return replay, recovered
}
