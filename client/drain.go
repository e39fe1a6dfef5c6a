package client

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/webrtc-broker/webrtc-broker/core/backoff"
)

// A server that drains (it is shutting down) sends DRAIN to the clients
// that declared FEATURE_DRAIN in their AUTH, as this one does. The client
// then moves, make-before-break: it connects to another server the
// coordinator offers while the old link keeps working, subscribes there,
// switches its publishes over, keeps the old link delivering for
// handoverOverlap, and closes it. Messages that arrive on both links during
// the overlap are delivered once, and in order: the new link's are held
// until the old one is closed, and those the old one delivered are dropped.

// handoverOverlap is how long the old link keeps delivering once the new one
// is subscribed and carries the publishes: time for what the cluster had
// already routed towards the old server to arrive there.
const handoverOverlap = time.Second

// minSwitchSettle and maxSwitchSettle bound how long the publishes are held
// once the old server has echoed the PING sent after them (see moveOnce).
const (
	minSwitchSettle = 50 * time.Millisecond
	maxSwitchSettle = 500 * time.Millisecond
)

// handoverLinger is how long, after a handover ends, the new link still
// drops the copies of what the old one delivered ahead of it: a copy relayed
// through another server can trail by a second or more (a retransmission),
// and a copy delivered twice is a duplicate the application sees.
const handoverLinger = 5 * time.Second

// maxHeldBytes bounds what the new link may hold back during the overlap;
// past it the handover ends early.
const maxHeldBytes = 8 << 20

// drain records a DRAIN from the server of l (it may come twice).
func (l *link) drain(graceMs uint32) {
	l.drainOnce.Do(func() {
		l.drainBy = time.Now().Add(time.Duration(graceMs) * time.Millisecond)
		close(l.drained)
	})
}

// move takes the client from old, whose server drains, to another server
// and returns the new link, live; nil when it could not before old was lost
// or its grace ran out (the supervisor then waits for the loss and
// reconnects as usual).
func (c *Client) move(old *link) *link {
	ctx, cancel := context.WithDeadline(c.ctx, old.drainBy)
	defer cancel()
	go func() {
		select {
		case <-old.lost:
			cancel()
		case <-ctx.Done():
		}
	}()
	c.log.Info("server draining: moving to another server", "alias", old.alias, "server", old.server,
		"grace", time.Until(old.drainBy).Round(time.Millisecond))
	// The handover starts now, before any new link exists: whatever old
	// delivers from here on is remembered, so that a copy the new server
	// relays after the new link's set is in force is known for one.
	h := newHandover(old, nil)
	prev := c.ho.Load()
	if prev != nil && prev.next == old {
		h.prev = prev // a move soon after a move: old may still owe prev's drops
	}
	c.ho.Store(h)
	c.moveStage("started")
	avoid := map[uint64]bool{old.server: true}
	delays := backoff.Backoff{Min: c.cfg.Reconnect.MinDelay, Max: c.cfg.Reconnect.MaxDelay}
	for attempt := 1; ; attempt++ {
		next, err := c.moveOnce(ctx, h, avoid)
		if err == nil {
			return next
		}
		if ctx.Err() != nil {
			c.log.Info("could not move before the drained server closed: reconnecting after it does",
				"server", old.server, "err", err)
			c.ho.CompareAndSwap(h, h.prev)
			return nil
		}
		c.log.Info("move attempt failed", "server", old.server, "attempt", attempt, "err", err)
		if !backoff.Wait(ctx.Done(), delays.Next()) {
			c.ho.CompareAndSwap(h, h.prev)
			return nil
		}
	}
}

// moveStage tells a test's onMove hook where a move is.
func (c *Client) moveStage(stage string) {
	if c.cfg.onMove != nil {
		c.cfg.onMove(stage)
	}
}

// moveOnce is one attempt of move.
func (c *Client) moveOnce(ctx context.Context, h *handover, avoid map[uint64]bool) (*link, error) {
	old := h.old
	actx, cancel := context.WithTimeout(ctx, c.cfg.ConnectTimeout)
	defer cancel()
	var chosen uint64
	next, err := c.connect(actx, func(offered []uint64) (uint64, bool) {
		for _, s := range offered {
			if !avoid[s] {
				chosen = s
				return s, true
			}
		}
		return 0, false // never back to the draining server
	})
	if err != nil {
		if chosen != 0 && chosen != old.server {
			avoid[chosen] = true
		}
		return nil, fmt.Errorf("move: %w", err)
	}
	h.setNext(next) // before it subscribes: from now on it holds what it gets
	if err := c.resubscribe(actx, next); err != nil {
		next.muted.Store(true)
		h.setNext(nil)
		c.subMu.Lock()
		c.mu.Lock()
		if c.link == next {
			c.link = old
		}
		c.mu.Unlock()
		if c.sub != nil { // a Subscribe meanwhile may have gone to next only
			sub := c.sub
			_ = old.write(old.reliable, func(b []byte) []byte { return append(b, sub...) })
		}
		c.subMu.Unlock()
		c.retire(next)
		avoid[next.server] = true
		return nil, fmt.Errorf("move: server %d: %w", next.server, err)
	}

	// Switch the publishes: hold them while the old server finishes what it
	// was sent (a PING echo after them), so that a subscriber never hears a
	// later publish, through the new server, before an earlier one.
	c.mu.Lock()
	if c.live.Load() == old {
		c.live.Store(nil)
		c.upCh = make(chan struct{})
	}
	c.mu.Unlock()
	// The echo proves the old server has handled them, that is, queued
	// them towards the other servers; settle gives its writers time to
	// send them before the new server, one hop from the subscribers too,
	// carries anything later.
	if rtt, err := c.pingOn(actx, old, Reliable); err != nil {
		c.log.Debug("old server did not echo before the switch", "server", old.server, "err", err)
	} else {
		settle := time.NewTimer(min(maxSwitchSettle, minSwitchSettle+2*rtt))
		select {
		case <-settle.C:
		case <-old.lost:
		case <-actx.Done():
		}
		settle.Stop()
	}
	if err := c.flush(next); err != nil {
		c.log.Debug("new link lost while sending the held publishes", "server", next.server, "err", err)
	} else {
		c.replaceInWorlds(next) // the new server knows no position of this client
		c.setState(StateEvent{State: StateConnected, Server: next.server, Alias: next.alias})
	}

	overlap := time.NewTimer(handoverOverlap)
	defer overlap.Stop()
	select {
	case <-overlap.C:
	case <-h.full:
	case <-old.lost:
	case <-next.lost:
	case <-c.ctx.Done():
	}
	c.endHandover(h)
	c.retire(old)
	c.moveStage("ended")
	c.log.Debug("moved", "from", old.server, "to", next.server, "alias", next.alias)
	return next, nil
}

// resubscribe sends the topic set to l and waits until it is in force.
func (c *Client) resubscribe(ctx context.Context, l *link) error {
	c.subMu.Lock()
	c.mu.Lock()
	c.link = l // from now on a Subscribe writes its set to l
	c.mu.Unlock()
	sub, pres := c.sub, c.presence
	// What was missed on history topics is asked for with the topic set
	// (recovery.go), and the followed presence is followed again.
	rec := c.streams.recoverFields(c.subTopics)
	var err error
	if sub != nil {
		err = l.write(l.reliable, func(b []byte) []byte { return append(append(b, sub...), rec...) })
	}
	if err == nil && pres != nil {
		err = l.write(l.reliable, func(b []byte) []byte { return append(b, pres...) })
	}
	c.subMu.Unlock()
	if err != nil {
		return fmt.Errorf("re-subscribe: %w", err)
	}
	if sub != nil {
		if _, err := c.pingOn(ctx, l, Reliable); err != nil {
			return fmt.Errorf("re-subscribe: waiting for the server to apply it: %w", err)
		}
	}
	return nil
}

// handover is the overlap of a move: old still delivers (and what it
// delivers is remembered, per stream, in order), next holds what it
// receives. mu serializes the two links' deliveries, so that the held
// messages go out after everything old delivered and before anything next
// delivers later. Which of next's messages are copies: handover_dedupe.go.
type handover struct {
	old, next *link
	mu        sync.Mutex
	seen      map[string][]oldEntry // what old delivered during the handover, by stream
	owed      map[string][]string   // once ended: bodies next still owes, by stream
	held      []Message             // next's messages, cloned
	heldBytes int
	ended     bool
	fullOnce  sync.Once
	full      chan struct{} // closed when held passes maxHeldBytes
	// prev is the handover that made old the new link, when it is recent
	// enough to still drop from old what its own old delivered ahead.
	prev *handover
}

func newHandover(old, next *link) *handover {
	return &handover{old: old, next: next, seen: map[string][]oldEntry{}, owed: map[string][]string{}, full: make(chan struct{})}
}

// skip reports whether m is a copy, owed by h.next, of what h.old delivered
// (the handover has ended), and consumes it.
func (h *handover) skip(m Message) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ended && h.dropOwed(m)
}

// take routes m, received on l, during a handover: it reports whether it
// dealt with m; false means deliver it as usual.
func (c *Client) take(h *handover, l *link, m Message) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case l == h.old:
		if h.ended {
			return true // the new link has taken over: a late duplicate
		}
		if h.prev != nil && h.prev.skip(m) {
			return true
		}
		k := streamKey(m)
		h.seen[k] = append(h.seen[k], oldEntry{body: string(m.Body), afterNext: h.next != nil})
		c.emit(m) // under mu: nothing held overtakes it
		return true
	case l == h.next:
		if h.ended {
			// Old may have been ahead: what it delivered and next had not
			// yet received is dropped as it comes.
			if !h.dropOwed(m) {
				c.emit(m)
			}
			return true
		}
		h.held = append(h.held, m.clone())
		h.heldBytes += len(m.Body) + len(m.Topic) + len(m.Identity)
		if h.heldBytes > maxHeldBytes {
			h.fullOnce.Do(func() { close(h.full) })
		}
		return true
	}
	return false
}

// setNext makes l the handover's new link (nil: none, after a failed
// attempt), dropping what a previous attempt's link held.
func (h *handover) setNext(l *link) {
	h.mu.Lock()
	h.next, h.held, h.heldBytes = l, nil, 0
	h.mu.Unlock()
}

// endHandover delivers what next held that old did not deliver, and mutes
// old for good.
func (c *Client) endHandover(h *handover) {
	h.mu.Lock()
	held := len(h.held)
	byStream := map[string][]string{}
	for _, m := range h.held {
		k := streamKey(m)
		byStream[k] = append(byStream[k], string(m.Body))
	}
	copiesOf := make(map[string]int, len(byStream))
	for k := range h.seen {
		if _, ok := byStream[k]; !ok {
			byStream[k] = nil // old delivered, next held none: what is owed
		}
	}
	owed, copies := 0, 0
	for k, bodies := range byStream {
		n, rest := align(h.seen[k], bodies, streamReliable(k))
		copiesOf[k], copies = n, copies+n
		if len(rest) > 0 {
			h.owed[k], owed = rest, owed+len(rest)
		}
	}
	for _, m := range h.held { // each stream's copies are its first held
		k := streamKey(m)
		if copiesOf[k] > 0 {
			copiesOf[k]--
			continue
		}
		c.emit(m)
	}
	h.seen = nil
	h.held, h.ended = nil, true
	h.old.muted.Store(true)
	h.mu.Unlock()
	c.log.Info("moved: the old link is closed", "from", h.old.server, "to", h.next.server, "alias", h.next.alias,
		"held", held, "copies", copies, "old_ahead", owed)
	// next keeps dropping what old delivered ahead of it for a while; what
	// is left then (old's messages from before next's set was in force
	// upstream) next never gets.
	time.AfterFunc(handoverLinger, func() { c.ho.CompareAndSwap(h, nil) })
}
