package commserver

import (
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
)

// Paced replay (history.go): a recovering client's replay goes through its
// reliable queue as the queue drains, not at once, so that a replay larger
// than outbound.reliable_bytes does not close the client as a slow
// consumer, and the relay never waits for it.
//
// When the RECOVERY is queued, under the stream's lock, the client is put
// in the stream's replaying set with a cursor at the first offset it
// missed. From then on the relay queues that topic's live messages to
// everyone but it (deliverStream), and its replay pump sends from the
// cursor, taking the same lock for each round: live messages numbered
// meanwhile are in the ring, so the pump sends them in turn. When the
// cursor reaches the stream's end the client leaves the replaying set, in
// the same locked step, and the relay queues to it again: no gap, no
// duplicate. Each round fills the queue to half its budget at most (the
// other half is left to the client's other topics) and holds the stream's
// lock for replayRound messages at most.
//
// If the ring drops a message before the pump sent it (the stream's bounds
// overtook a replay that drains too slowly), the client would have a gap
// it was told it has not: it is closed as a slow consumer instead, and
// recovers again from where it got to when it comes back.

// replayRound bounds the messages one round sends under a stream's lock.
const replayRound = 256

var errReplayOvertaken = errors.New("slow consumer: the history dropped messages its replay had not sent yet")

// replay is one topic's replay to one client. Its fields are guarded by
// the stream's mu; done is set under it too, and atomic so that the pump
// reads it holding only replays.mu.
type replay struct {
	st    *stream
	epoch uint64
	// next is the offset to send next.
	next uint64
	done atomic.Bool
}

// replays is a peer's replays under way.
type replays struct {
	mu      sync.Mutex // a leaf: taken under a stream's mu, never the reverse
	pending []*replay
	running bool
	// kick (capacity 1, made with the peer) wakes a pump that waits for
	// its queue to empty when a replay may have to end without the queue
	// moving: the ring dropped what it had still to send, or the client
	// changed its topics. Sent without blocking, from anywhere.
	kick chan struct{}
}

// kickReplays wakes the peer's pump (see replays.kick).
func (p *peer) kickReplays() {
	select {
	case p.rp.kick <- struct{}{}:
	default:
	}
}

// kickOvertaken wakes the pumps of the replays on st that the ring has
// overtaken: their client is to be closed now, not when its queue next
// moves (a client that reads nothing would never be). Stream mu held.
func (st *stream) kickOvertaken() {
	for p, r := range st.replaying {
		if r.next <= st.ring.Last() {
			if _, _, held := st.ring.At(r.next); !held {
				p.kickReplays()
			}
		}
	}
}

// startReplay registers r as the peer's replay on its topic, replacing one
// under way (the client asked again). Stream mu held on entry. It reports
// whether the peer's pump is to be started (runReplays).
func (p *peer) startReplay(r *replay) bool {
	st := r.st
	if old := st.replaying[p]; old != nil {
		old.done.Store(true)
	}
	if st.replaying == nil {
		st.replaying = map[*peer]*replay{}
	}
	st.replaying[p] = r
	p.rp.mu.Lock()
	defer p.rp.mu.Unlock()
	p.rp.pending = append(p.rp.pending, r)
	if p.rp.running {
		return false
	}
	p.rp.running = true
	return true
}

// runReplays starts the peer's replay pump.
func (p *peer) runReplays() {
	if !p.s.routines.Go(p.pumpReplays) {
		p.endReplays()
	}
}

// pumpReplays sends the peer's replays until they are all done or the peer
// closes.
func (p *peer) pumpReplays() {
	for {
		p.rp.mu.Lock()
		pending := p.rp.pending[:0]
		for _, r := range p.rp.pending {
			if !r.done.Load() {
				pending = append(pending, r)
			}
		}
		clear(p.rp.pending[len(pending):])
		p.rp.pending = pending
		if len(pending) == 0 {
			p.rp.running = false
			p.rp.mu.Unlock()
			return
		}
		round := append([]*replay(nil), pending...)
		p.rp.mu.Unlock()

		full := false
		for _, r := range round {
			more, ok := p.pump(r)
			if !ok {
				p.endReplays()
				return
			}
			full = full || more
		}
		if !full {
			continue // progress with room left: the next round at once
		}
		// The queue is half full: the next round starts when the writer
		// has taken it, which pion's flow control paces to the client's
		// downstream.
		select {
		case <-p.ctx.Done():
			p.endReplays()
			return
		case <-p.chans[reliable].q.Emptied():
		case <-p.rp.kick:
		}
	}
}

// pump sends one round of r. full: it stopped because the queue is half
// full (wait before the next round); ok false: the peer is closed.
func (p *peer) pump(r *replay) (full, ok bool) {
	st := r.st
	st.mu.Lock()
	defer st.mu.Unlock()
	if r.done.Load() {
		return false, true
	}
	ring := st.ring
	if ring.Epoch() != r.epoch {
		// The stream restarted (a lost link, or it lingered out): what
		// follows is another epoch, live, and the client sees the change.
		p.finishReplay(r)
		return false, true
	}
	if subs, ok := p.s.subs.Lookup([]byte(st.topic)); !ok || !slices.Contains(subs.Clients, p) {
		// The client left the topic meanwhile: the rest is not for it.
		p.finishReplay(r)
		return false, true
	}
	limit := max(p.s.cfg.Outbound.ReliableBytes/2, 1)
	_, queued := p.chans[reliable].q.Len()
	for n := 0; r.next <= ring.Last(); n++ {
		if n == replayRound {
			return false, true
		}
		msg, from, held := ring.At(r.next)
		if !held {
			p.s.m.slowConsumers.Add(1)
			p.close(slog.LevelWarn, "closed: slow consumer", errReplayOvertaken)
			return false, false
		}
		if queued > 0 && queued+len(msg) > limit {
			return true, true
		}
		r.next++
		if from == p.alias {
			continue // its own (published during the replay): never echoed, as live
		}
		if !p.send(reliable, msg) {
			return false, false
		}
		queued += len(msg)
	}
	p.finishReplay(r)
	return false, true
}

// finishReplay ends r: the relay queues its topic's live messages to the
// peer again. Stream mu held on entry.
func (p *peer) finishReplay(r *replay) {
	r.done.Store(true)
	if r.st.replaying[p] == r {
		delete(r.st.replaying, p)
	}
}

// endReplays ends every replay of a peer that is closed (or whose pump
// could not start): its streams forget it.
func (p *peer) endReplays() {
	p.rp.mu.Lock()
	pending := p.rp.pending
	p.rp.pending, p.rp.running = nil, false
	p.rp.mu.Unlock()
	for _, r := range pending {
		r.st.mu.Lock()
		p.finishReplay(r)
		r.st.mu.Unlock()
	}
}
