package commserver

import (
	"context"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/core/history"
	"github.com/webrtc-broker/webrtc-broker/core/relay"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// History and recovery (issue 14 item 3; the scheme is documented in
// core/history and at StreamPosition in protocol/broker.proto).
//
// A topic matching a history rule gets a stream on this server when a local
// client subscribes to it. Every reliable message relayed to local clients
// on it is numbered, stored and fanned out as one step under the stream's
// lock; a recovering SUBSCRIPTION takes the same locks, subscribes and
// queues RECOVERY and the replay on the client's reliable queue before any
// later message can be numbered, so the client sees the replay, then the
// live messages, with no gap and no duplicate.
//
// While it has a stream the server announces the topic to the other
// servers even without local subscribers (for the rule's linger), so that
// what they publish keeps arriving and the stream has no hole. A stream
// whose server could have missed messages (a server link was lost) starts
// a new epoch.

// sweepEvery is how often idle streams are looked at and expired messages
// freed.
const sweepEvery = time.Second

// histories holds the server's streams. Lock order: histories.mu, then a
// stream's mu, then the subscription table and the outbound queues.
type histories struct {
	rules []history.Rule
	// maxBytes bounds the bytes all streams hold together (history_max_bytes,
	// 0: no bound); bytes is what they hold, kept by whoever changes a ring
	// under its stream's lock (account).
	maxBytes int64
	bytes    atomic.Int64
	mu       sync.RWMutex
	// streams by topic; a stream's idleSince is guarded by mu.
	streams map[string]*stream
}

type stream struct {
	topic string // the map's key, so the relay has a string without allocating
	rule  history.Rule
	mu    sync.Mutex // guards ring and replaying
	ring  *history.Ring
	// replaying holds the local clients whose replay on this topic is
	// under way (replay.go): live messages are not queued to them, their
	// replay reaches them as it catches up.
	replaying map[*peer]*replay
	// idleSince is when the sweeper first saw the topic without local
	// subscribers; zero while it has some.
	idleSince time.Time
}

// newHistories holds the streams of rules, at most maxBytes of messages
// in all (0: no bound); nil without rules.
func newHistories(rules []history.Rule, maxBytes int) *histories {
	if len(rules) == 0 {
		return nil
	}
	return &histories{rules: rules, maxBytes: int64(maxBytes), streams: map[string]*stream{}}
}

// newRing starts a stream of rule in a fresh epoch.
func newRing(rule history.Rule) *history.Ring {
	r := history.NewRing(history.NewEpoch(), rule.Messages, rule.TTL)
	r.SetMaxBytes(rule.MaxBytes)
	return r
}

// account adds the change of a ring's bytes since before to the total.
func (h *histories) account(ring *history.Ring, before int) {
	if d := ring.Bytes() - before; d != 0 {
		h.bytes.Add(int64(d))
	}
}

// trim drops a ring's oldest messages while all streams together hold more
// than history_max_bytes: the stream that appends pays, so the bound holds
// with one lock (its stream's) and no scan of the others. A quiet stream
// keeps its messages until its own bound, its ttl or its linger drops them.
func (h *histories) trim(ring *history.Ring) {
	for h.maxBytes > 0 && h.bytes.Load() > h.maxBytes {
		freed := ring.DropOldest()
		if freed == 0 {
			return
		}
		h.bytes.Add(-int64(freed))
	}
}

// heldBytes is what every stream holds, for the metrics.
func (h *histories) heldBytes() int64 {
	if h == nil {
		return 0
	}
	return h.bytes.Load()
}

// count is how many streams the server keeps, for the metrics.
func (h *histories) count() int {
	if h == nil {
		return 0
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.streams)
}

// lookup returns topic's stream, nil if it has none. It does not allocate.
func (h *histories) lookup(topic []byte) *stream {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.streams[string(topic)]
}

// ensure gives every topic of a client's set that matches a rule a stream.
func (h *histories) ensure(topics []string) {
	var missing []string
	h.mu.RLock()
	for _, t := range topics {
		if h.streams[t] == nil {
			if _, ok := history.Find(h.rules, t); ok {
				missing = append(missing, t)
			}
		}
	}
	h.mu.RUnlock()
	if len(missing) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, t := range missing {
		if h.streams[t] == nil {
			r, _ := history.Find(h.rules, t)
			h.streams[t] = &stream{topic: t, rule: r, ring: newRing(r)}
		}
	}
}

// topics returns the topics with a stream, sorted: they are announced.
func (h *histories) topics() []string {
	if h == nil {
		return nil
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]string, 0, len(h.streams))
	for t := range h.streams {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// restartAll starts every stream afresh in a new epoch: the server may
// have missed messages of any of them.
func (h *histories) restartAll() {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, st := range h.streams {
		st.mu.Lock()
		h.bytes.Add(-int64(st.ring.Bytes()))
		st.ring = newRing(st.rule)
		st.mu.Unlock()
	}
}

// sweepHistory drops the streams idle for longer than their linger (and
// re-announces without them) and frees expired messages, until ctx ends.
func (s *Server) sweepHistory(ctx context.Context) {
	h := s.hist
	tick := time.NewTicker(sweepEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			dropped := false
			h.mu.Lock()
			for t, st := range h.streams {
				subs, _ := s.subs.Lookup([]byte(t))
				switch {
				case len(subs.Clients) > 0:
					st.idleSince = time.Time{}
				case st.idleSince.IsZero():
					st.idleSince = now
				case now.Sub(st.idleSince) > st.rule.Linger:
					delete(h.streams, t)
					st.mu.Lock()
					h.bytes.Add(-int64(st.ring.Bytes()))
					// A replay still under way ends with the stream.
					st.ring = newRing(st.rule)
					for p := range st.replaying {
						p.kickReplays()
					}
					st.mu.Unlock()
					dropped = true
					continue
				}
				st.mu.Lock()
				if freed := st.ring.Expire(now); freed > 0 {
					h.bytes.Add(-int64(freed))
					st.kickOvertaken()
				}
				st.mu.Unlock()
			}
			h.mu.Unlock()
			if dropped {
				s.notifyAnnounce()
			}
		}
	}
}

// publishStream relays a reliable message on a history topic: to local
// clients numbered and stored, to servers as any message. It runs where
// publish would fan out, with the same arguments.
func (p *peer) publishStream(st *stream, origin relay.Origin, t protocol.MessageType, from uint64,
	identity []byte, role protocol.Role, body []byte) {
	s := p.s
	identified := t == protocol.MessageType_TOPIC_IDENTITY
	topic := st.topic
	toClients, toServers := relay.Route(origin, s.hub)
	if toClients {
		s.deliverStream(st, p, identified, from, identity, role, body)
	}
	if toServers {
		if subs, ok := s.subs.Lookup([]byte(topic)); ok && hasOther(subs.Servers, p) {
			var out []byte
			if identified {
				out = relay.AppendTopicIdentity(nil, from, topic, identity, role, body)
			} else {
				out = relay.AppendTopic(nil, from, topic, body)
			}
			s.fanout(p, subs.Servers, reliable, t, out, 0)
		}
	}
}

// deliverStream numbers a reliable message on st's topic, stores it and
// queues it to the local client subscribers but sender (nil: none is the
// sender, as for a message another server handed over by a transport that
// is not made of links). Whatever delivers reliable messages of a history
// topic to local clients must come through here, or the stream would not
// hold them and a recovery would claim a gapless replay without them.
func (s *Server) deliverStream(st *stream, sender *peer, identified bool, from uint64, identity []byte, role protocol.Role, body []byte) {
	topic := st.topic
	ft := protocol.MessageType_TOPIC_FW
	if identified {
		ft = protocol.MessageType_TOPIC_IDENTITY_FW
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	ring := st.ring
	epoch, offset := ring.Epoch(), ring.Next()
	size := relayedSize(identified, from, topic, identity, role, body) + relay.SizeStream(epoch, offset)
	out := make([]byte, 0, size)
	if identified {
		out = relay.AppendTopicIdentityFW(out, from, topic, identity, role, body)
	} else {
		out = relay.AppendTopicFW(out, from, topic, body)
	}
	out = relay.AppendStream(out, ft, epoch, offset)
	s.hist.bytes.Add(int64(ring.AppendFrom(out, from, time.Now())))
	s.hist.trim(ring)
	// Looked up under the stream's lock: a recovering client is either
	// subscribed already (and gets this live) or gets it in its replay.
	subs, ok := s.subs.Lookup([]byte(topic))
	switch {
	case !ok || !hasOther(subs.Clients, sender):
	case len(st.replaying) == 0:
		s.fanout(sender, subs.Clients, reliable, ft, out, 0)
	default:
		// The clients still replaying get this from their replay, after
		// what they missed (replay.go).
		st.kickOvertaken()
		n := 0
		for _, target := range subs.Clients {
			if target != sender && st.replaying[target] == nil && target.send(reliable, out) {
				n++
			}
		}
		s.m.sent(ft, n, len(out))
	}
}

// streamOverhead bounds what a stream position adds to a relayed message,
// for the max_message_size check.
const streamOverhead = 24

// setClientRecovering applies a client's topic set with its recovery
// requests: under the locks of the streams concerned (in topic order, so
// two recoveries never deadlock), the set goes in force and each requested
// topic gets its RECOVERY and replay queued. It returns SetClient's result.
func (p *peer) setClientRecovering(topics []string, recover []*protocol.TopicPosition) bool {
	s := p.s
	in := make(map[string]bool, len(topics))
	for _, t := range topics {
		in[t] = true
	}
	sort.Slice(recover, func(i, j int) bool { return recover[i].GetTopic() < recover[j].GetTopic() })
	type req struct {
		pos *protocol.TopicPosition
		st  *stream
	}
	var reqs []req
	for i, pos := range recover {
		if pos == nil || (i > 0 && recover[i-1].GetTopic() == pos.Topic) {
			continue // one answer per topic
		}
		var st *stream
		if in[pos.Topic] && s.hist != nil {
			st = s.hist.lookup([]byte(pos.Topic))
		}
		if st != nil {
			st.mu.Lock()
		}
		reqs = append(reqs, req{pos, st})
	}
	changed := p.setTopics(topics) // with the worlds' cells (world.go)
	now := time.Now()
	started := false
	for _, r := range reqs {
		ans := &protocol.RecoveryMessage{Type: protocol.MessageType_RECOVERY, Topic: r.pos.Topic}
		var rp *replay
		if st := r.st; st != nil {
			ring := st.ring
			before := ring.Bytes()
			from, recovered, ok := ring.Cursor(r.pos.Epoch, r.pos.Offset, now)
			s.hist.account(ring, before)
			ans.Recovered = recovered
			ans.Position = &protocol.StreamPosition{Epoch: ring.Epoch(), Offset: ring.Last()}
			if ok && from <= ring.Last() {
				ans.Replayed = uint32(ring.Last() - from + 1)
				rp = &replay{st: st, epoch: ring.Epoch(), next: from}
			}
		}
		if p.sendRecovery(ans) && rp != nil {
			started = p.startReplay(rp) || started
		}
		if r.st != nil {
			r.st.mu.Unlock()
		}
	}
	if started {
		p.runReplays()
	} else if changed {
		p.kickReplays() // a replay on a topic the client left ends now
	}
	return changed
}

// sendRecovery queues one topic's RECOVERY; its replay follows through
// the peer's replay pump (replay.go).
func (p *peer) sendRecovery(ans *protocol.RecoveryMessage) bool {
	msg, err := proto.Marshal(ans)
	if err != nil {
		p.log.Error("encode RECOVERY", "topic", ans.Topic, "err", err)
		return false
	}
	if !p.send(reliable, msg) {
		return false
	}
	p.s.m.sent(protocol.MessageType_RECOVERY, 1, len(msg))
	p.log.Debug("recovery", "topic", ans.Topic, "recovered", ans.Recovered, "replayed", ans.Replayed)
	return true
}
