package coordinator

import (
	"time"

	"github.com/webrtc-broker/webrtc-broker/core/outbound"
	"github.com/webrtc-broker/webrtc-broker/core/ratelimit"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// signalLimit is what one peer may still relay, so that no sender can fill
// another peer's send queue (issue 12: four clients flooding candidates at a
// server filled the coordinator's queue towards it, and the server was closed
// as a slow consumer). It is owned by the peer's read loop: no lock.
//
//   - A client's messages pass a token bucket (signal.rate, signal.burst).
//   - Every sender may have at most signal.pair_bytes relayed and not yet
//     written towards any one receiver, counted with the receiver queue's
//     tickets; so a receiver's queue fills only when many senders push at
//     once, and then the receiver refuses the message instead of closing.
//   - Each message refused for one of these reasons costs the sender a
//     strike, from a second bucket as large as the first: a client that keeps
//     sending well over its rate is cut, one that bursts a little is only
//     slowed. Servers are never rate-limited or cut, only refused: they are
//     authenticated cluster members, and their signaling grows with the
//     clients they answer.
type signalLimit struct {
	client    bool
	rate      ratelimit.Bucket
	strikes   ratelimit.Bucket
	pairBytes int
	// refused counts the sender's refused messages, for the log.
	refused int
	// pairs holds the sender's backlog towards each receiver it has
	// messages queued for (and, until the next sweep, some it had).
	pairs map[uint64]*pairBacklog
}

// maxIdlePairs is how many receivers a sender's pairs may hold before the
// ones with nothing queued are swept out. A client signals a server or two;
// a server answers every client that joins it, so its map is swept while it
// is busy.
const maxIdlePairs = 64

// pairBacklog is a sender's relayed, not yet written messages towards one
// receiver, oldest first: the receiver's queue is FIFO, so they leave it in
// that order.
type pairBacklog struct {
	to      *peer
	pending []queuedMsg
	bytes   int
}

type queuedMsg struct {
	ticket outbound.Ticket
	size   int
}

func newSignalLimit(cfg SignalConfig, role protocol.Role, now time.Time) *signalLimit {
	return &signalLimit{
		client:    role == protocol.Role_CLIENT,
		rate:      ratelimit.New(cfg.Rate, float64(cfg.Burst), now),
		strikes:   ratelimit.New(cfg.Rate, float64(cfg.Burst), now),
		pairBytes: cfg.PairBytes,
		pairs:     map[uint64]*pairBacklog{},
	}
}

// allow takes a token for one message; servers always may.
func (l *signalLimit) allow(now time.Time) bool {
	return !l.client || l.rate.Allow(now)
}

// fits says whether a message of size bytes may be queued towards to: the
// sender's backlog there stays within pairBytes, or is empty (so one message
// larger than the bound still goes through when the pair is idle).
func (l *signalLimit) fits(to *peer, size int) bool {
	b := l.pairs[to.alias]
	if b == nil {
		return true
	}
	b.release()
	return b.bytes == 0 || b.bytes+size <= l.pairBytes
}

// queued records a message queued towards to with its ticket.
func (l *signalLimit) queued(to *peer, t outbound.Ticket, size int) {
	b := l.pairs[to.alias]
	if b == nil {
		if len(l.pairs) >= maxIdlePairs {
			l.sweep()
		}
		b = &pairBacklog{to: to}
		l.pairs[to.alias] = b
	}
	b.pending = append(b.pending, queuedMsg{ticket: t, size: size})
	b.bytes += size
}

// sweep forgets the receivers towards which nothing is queued any more,
// those that have gone included (a closed queue releases every ticket).
func (l *signalLimit) sweep() {
	for alias, b := range l.pairs {
		if b.release(); b.bytes == 0 {
			delete(l.pairs, alias)
		}
	}
}

// release forgets the messages the receiver's writer has taken.
func (b *pairBacklog) release() {
	n := 0
	for n < len(b.pending) && b.to.out.Released(b.pending[n].ticket) {
		b.bytes -= b.pending[n].size
		n++
	}
	if n == len(b.pending) {
		b.pending = b.pending[:0]
	} else if n > 0 {
		b.pending = append(b.pending[:0], b.pending[n:]...)
	}
}

// strike counts a refused message and reports whether the sender is out of
// strikes and must be cut. Servers never are.
func (l *signalLimit) strike(now time.Time) (cut bool) {
	l.refused++
	return l.client && !l.strikes.Allow(now)
}
