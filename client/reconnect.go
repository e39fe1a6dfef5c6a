package client

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/webrtc-broker/webrtc-broker/core/backoff"
)

// supervise owns the client's link from Dial to the end: it waits until the
// link is lost or the client closed, then reconnects (or gives up), and it
// is the only caller of setState after Dial, so the application hears the
// states in order.
func (c *Client) supervise(l *link) {
	stuck := false // a move away from l failed: wait for its loss
	for {
		drained := l.drained
		if stuck || c.cfg.Reconnect.Disabled {
			drained = nil
		}
		select {
		case <-c.ctx.Done():
			c.retire(l)
			c.finish(ErrClosed)
			return
		case <-drained:
			if next := c.move(l); next != nil {
				l, stuck = next, false
			} else {
				stuck = true
			}
			continue
		case <-l.lost:
		}
		stuck = false
		c.retire(l)
		if c.ctx.Err() != nil { // Close fails the link too: not a loss
			c.finish(ErrClosed)
			return
		}
		cause := l.err
		if c.cfg.Reconnect.Disabled || errors.Is(cause, ErrAuthFailed) {
			c.finish(cause)
			return
		}
		c.setState(StateEvent{State: StateReconnecting, Server: l.server, Alias: l.alias, Err: cause})
		next, err := c.reconnect(l.server)
		if err != nil {
			c.finish(err)
			return
		}
		l = next
	}
}

// reconnect tries until a new link is live, with capped, jittered backoff,
// avoiding the servers that failed since. A client that holds stream
// positions (history topics, recovery.go) goes back to lost first when the
// coordinator still offers it (so it is alive, and neither draining nor
// full): positions are per server, and only lost can replay what the client
// missed. Otherwise, or once that attempt failed, it prefers the other
// servers, since lost may be what failed. It returns an error only when the
// client must stop: closed, or the credentials refused.
func (c *Client) reconnect(lost uint64) (*link, error) {
	avoid := map[uint64]bool{}
	var prefer uint64
	if c.streams.positioned() {
		prefer = lost
	} else {
		avoid[lost] = true
	}
	delays := backoff.Backoff{Min: c.cfg.Reconnect.MinDelay, Max: c.cfg.Reconnect.MaxDelay}
	for attempt := 1; ; attempt++ {
		if !backoff.Wait(c.ctx.Done(), delays.Next()) {
			return nil, ErrClosed
		}
		l, err := c.attempt(avoid, prefer)
		if err == nil {
			c.setState(StateEvent{State: StateConnected, Server: l.server, Alias: l.alias})
			return l, nil
		}
		if c.ctx.Err() != nil {
			return nil, ErrClosed
		}
		if errors.Is(err, ErrAuthFailed) {
			return nil, err
		}
		c.setState(StateEvent{State: StateReconnecting, Attempt: attempt, Err: err})
	}
}

// attempt makes one connection and restores the client's state on it:
// to prefer when it is offered and not avoided, else as pickServer.
func (c *Client) attempt(avoid map[uint64]bool, prefer uint64) (*link, error) {
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.ConnectTimeout)
	defer cancel()
	var chosen uint64
	l, err := c.connect(ctx, func(offered []uint64) (uint64, bool) {
		s, ok := pickPreferred(offered, prefer, avoid)
		chosen = s
		return s, ok
	})
	if err != nil {
		if chosen != 0 {
			avoid[chosen] = true
		}
		return nil, fmt.Errorf("reconnect: %w", err)
	}
	if err := c.restore(ctx, l); err != nil {
		c.retire(l)
		avoid[l.server] = true
		return nil, fmt.Errorf("reconnect: server %d: %w", l.server, err)
	}
	return l, nil
}

// restore brings a new link to where the last one was: the last topic set,
// in force (a PING echo after it, as Subscribe waits for), then the
// publishes queued meanwhile, then live: once the application hears
// StateConnected, what others publish on its topics reaches it. AUTH went
// out in connect.
func (c *Client) restore(ctx context.Context, l *link) error {
	if err := c.resubscribe(ctx, l); err != nil {
		return err
	}
	if err := c.flush(l); err != nil {
		return err
	}
	c.replaceInWorlds(l)
	return nil
}

// flush writes the queued reliable publishes to l in order and makes l live
// once the queue is empty, under mu: a publish that found the client down
// was queued before that moment, and every later one writes to l directly,
// so nothing overtakes what was queued. What a failed write leaves is kept
// for the next link.
func (c *Client) flush(l *link) error {
	for {
		c.mu.Lock()
		batch := c.queue.Take(c.carry)
		c.carry = nil
		if len(batch) == 0 {
			c.upLocked(l)
			c.mu.Unlock()
			return nil
		}
		c.mu.Unlock()
		for i, msg := range batch {
			if err := l.write(l.reliable, func(b []byte) []byte { return append(b, msg...) }); err != nil {
				c.mu.Lock()
				c.carry = batch[i:]
				c.mu.Unlock()
				return fmt.Errorf("send %d queued publishes: %w", len(batch)-i, err)
			}
		}
	}
}

// up makes Dial's first link live.
func (c *Client) up(l *link) {
	c.mu.Lock()
	c.link = l
	c.upLocked(l)
	c.mu.Unlock()
}

func (c *Client) upLocked(l *link) {
	c.streams.linked(l.alias)
	c.alias.Store(l.alias)
	c.server.Store(l.server)
	c.live.Store(l)
	close(c.upCh)
}

// retire stops using l: publishes queue from now on, waiting calls wait for
// the next link. Then it closes l and waits for its read loops.
func (c *Client) retire(l *link) {
	c.mu.Lock()
	if c.link == l {
		c.link = nil
	}
	if c.live.Load() == l {
		c.live.Store(nil)
		c.upCh = make(chan struct{})
	}
	c.mu.Unlock()
	close(l.retired)
	l.release(c.log)
}

// finish ends the client once with err: every link is released by then (the
// supervisor retired it, or Dial's connect released it), so no read loop
// can deliver any more.
func (c *Client) finish(err error) {
	c.finishOnce.Do(func() {
		c.cancel()
		if n, bytes := c.queue.Len(); n > 0 || len(c.carry) > 0 {
			c.log.Warn("client closed with reliable publishes still queued for a reconnection: discarded",
				"messages", n+len(c.carry), "bytes", bytes, "err", err)
		}
		c.queue.Close()
		close(c.msgs)
		close(c.errs)
		if err := c.api.Close(); err != nil {
			c.log.Debug("close webrtc api", "alias", c.Alias(), "err", err)
		}
		if !errors.Is(err, ErrClosed) {
			c.log.Info("client closed", "alias", c.Alias(), "server", c.ServerAlias(), "err", err)
		}
		c.err = err
		c.setState(StateEvent{State: StateClosed, Server: c.ServerAlias(), Alias: c.Alias(), Err: err})
		close(c.done)
	})
}

// pickPreferred takes prefer when it is offered (the coordinator offers a
// client only servers that are registered, not draining and not full) and
// not avoided, else as pickServer.
func pickPreferred(offered []uint64, prefer uint64, avoid map[uint64]bool) (uint64, bool) {
	if prefer != 0 && !avoid[prefer] && slices.Contains(offered, prefer) {
		return prefer, true
	}
	return pickServer(offered, avoid)
}
