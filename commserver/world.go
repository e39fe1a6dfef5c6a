package commserver

import (
	"slices"
	"sync"

	"github.com/webrtc-broker/webrtc-broker/core/relay"
	"github.com/webrtc-broker/webrtc-broker/core/spatial"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// World topics (spatial interest, issue 14). A topic matching a worlds
// pattern is a world: its messages carry the sender's position (the
// position extension), and a subscriber gets a sender's message only when
// the sender is within the world's radius of the subscriber's own last
// position, every message from near and fewer from further (spatial.Config).
// This goes for both channels: use an ordinary topic for what everyone must
// get.
//
// A subscriber's position is the one on its own last message on the world
// (a message with an empty body only moves it and is not relayed); until it
// has published one it gets nothing from the world. A message without a
// position takes the sender's last one, or is refused if it has none.
//
// Each subscriber's interest cells are cell topics (WORLD.cell.X.Y, see
// core/spatial) in its subscription table set, beside its own topics: the
// table then finds, for a message in a cell, the local subscribers near it,
// and the server announces the cells as ordinary topics, so that other
// servers send it the messages of those cells, carried on the cell topic as
// TOPIC with the position, and no transport needs a special case. Clients
// may neither subscribe to nor publish on cell topics. Policies see the
// world topic. Unreliable world messages are latest-wins (conflate).

// world is one world topic in use on this server, created by its first
// member's subscription and dropped with its last.
type world struct {
	topic string         // read-only
	cfg   spatial.Config // read-only
	grid  *spatial.Grid[*peer]
	seq   spatial.Senders
}

// worldSet holds the worlds with members on this server. mu guards byTopic
// and serializes joins and leaves, so that a world is dropped only when its
// last member has left; it is taken after peer.wd.mu, before a grid's locks.
type worldSet struct {
	mu      sync.RWMutex
	byTopic map[string]*world
}

// get returns the world of topic, nil if it has no member here.
func (ws *worldSet) get(topic string) *world {
	ws.mu.RLock()
	defer ws.mu.RUnlock()
	return ws.byTopic[topic]
}

// join makes p a member of the world topic (creating it).
func (ws *worldSet) join(topic string, cfg spatial.Config, p *peer) *world {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	w := ws.byTopic[topic]
	if w == nil {
		if ws.byTopic == nil {
			ws.byTopic = map[string]*world{}
		}
		w = &world{topic: topic, cfg: cfg, grid: spatial.NewGrid[*peer](cfg)}
		ws.byTopic[topic] = w
	}
	w.grid.Join(p)
	return w
}

// leave ends p's membership of w, dropping w with its last member.
func (ws *worldSet) leave(w *world, p *peer) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	w.grid.Leave(p)
	w.seq.Forget(p.alias)
	if w.grid.Len() == 0 && ws.byTopic[w.topic] == w {
		delete(ws.byTopic, w.topic)
	}
}

// setTopics puts the client's own topics in force, plus the interest cells
// of the worlds among them; it reports whether the union of the clients'
// sets changed (the servers are then told).
func (p *peer) setTopics(topics []string) (unionChanged bool) {
	s := p.s
	if s.rules == nil {
		return s.subs.SetClient(p, topics)
	}
	p.wd.mu.Lock()
	defer p.wd.mu.Unlock()
	var joined []*world
	for _, t := range topics {
		if ru, isCell := s.rules.lookup([]byte(t)); ru.world >= 0 && !isCell {
			joined = append(joined, s.worlds.join(t, s.rules.worlds[ru.world].cfg, p))
		}
	}
	for _, w := range p.wd.joined {
		if !slices.Contains(joined, w) {
			s.worlds.leave(w, p)
		}
	}
	p.wd.topics, p.wd.joined = topics, joined
	return s.subs.SetClient(p, p.setLocked())
}

// setLocked is the client's subscription table set: its own topics and its
// worlds' interest cells. wd.mu held.
func (p *peer) setLocked() []string {
	set := slices.Clone(p.wd.topics)
	var cells []spatial.Cell
	var buf [128]byte
	for _, w := range p.wd.joined {
		cells = w.grid.Interest(p, cells[:0])
		for _, c := range cells {
			// A cell someone here subscribes to (after a move, most of the
			// client's own) has its string in the table already: taken
			// from there, a move allocates only for the cells it enters.
			name := spatial.AppendCellTopic(buf[:0], w.topic, c)
			if subs, ok := p.s.subs.Lookup(name); ok {
				set = append(set, subs.Topic)
			} else {
				set = append(set, string(name))
			}
		}
	}
	return set
}

// refreshInterest brings the client's set up to date after it changed cells.
func (p *peer) refreshInterest() {
	p.wd.mu.Lock()
	changed := p.s.subs.SetClient(p, p.setLocked())
	p.wd.mu.Unlock()
	if changed {
		p.s.notifyAnnounce()
	}
}

// leaveWorlds ends the peer's memberships; on its teardown.
func (p *peer) leaveWorlds() {
	if p.s.rules == nil {
		return
	}
	p.wd.mu.Lock()
	defer p.wd.mu.Unlock()
	for _, w := range p.wd.joined {
		p.s.worlds.leave(w, p)
	}
	p.wd.joined = nil
}

// worldMsg is a message on a world topic or one of its cells, as publish
// parsed and stamped it.
type worldMsg struct {
	kind     chanKind
	t        protocol.MessageType
	m        relay.Message
	ru       rule // the world's
	isCell   bool // it came on a cell topic
	origin   relay.Origin
	from     uint64
	identity []byte
	role     protocol.Role
}

// publishWorld relays a message on a world topic (from a client) or on one
// of its cells (from a server): to the local subscribers near the sender's
// position, at their distance's rate, and on the position's cell topic to
// the servers that announced it.
func (p *peer) publishWorld(wm worldMsg) {
	s := p.s
	def := s.rules.worlds[wm.ru.world]
	topic := wm.ru.name
	body := wm.m.Body
	w := s.worlds.get(topic)
	pos, placed := wm.m.Position, wm.m.HasPosition
	if wm.origin == relay.FromClient {
		if wm.isCell {
			p.refuseWorld(topic, "cell topics are the server's: publish on the world topic")
			return
		}
		var ok bool
		if body, _, ok = p.applyPolicy(wm.kind, topic, body); !ok {
			return // (world messages are latest-wins whatever the policy says)
		}
		if !placed && w != nil {
			pos, placed = w.grid.Pos(p)
		}
	}
	switch {
	case !placed:
		p.refuseWorld(topic, "a world message needs a position (none yet)")
		return
	case !spatial.Valid(pos):
		p.refuseWorld(topic, "position not finite or beyond 1e9")
		return
	}
	if wm.origin == relay.FromClient && w != nil && w.grid.Move(p, pos) {
		p.refreshInterest()
	}
	if len(body) == 0 {
		return // a position update only
	}

	var buf [128]byte
	cellBytes := spatial.AppendCellTopic(buf[:0], topic, def.cfg.CellOf(pos))
	subs, ok := s.subs.Lookup(cellBytes)
	cellTopic := subs.Topic
	if !ok {
		if s.bus == nil || wm.origin != relay.FromClient {
			return
		}
		// Nobody here subscribes to the cell, but NATS may know servers
		// that do: the cell's name is made for the bus.
		cellTopic = string(cellBytes)
	}
	identified := wm.t == protocol.MessageType_TOPIC_IDENTITY
	from, identity, role := wm.from, wm.identity, wm.role
	var size int
	if identified {
		size = max(relay.SizeTopicIdentityFWAt(from, topic, identity, role, body, pos),
			relay.SizeTopicIdentityAt(from, cellTopic, identity, role, body, pos))
	} else {
		size = max(relay.SizeTopicFWAt(from, topic, body, pos), relay.SizeTopicAt(from, cellTopic, body, pos))
	}
	if !p.fits(size, topic) {
		return
	}
	if s.bus != nil && wm.origin == relay.FromClient {
		// Once, on the cell topic, whoever subscribes; a failure is counted
		// and logged by the bus.
		_ = s.bus.PublishAt(wm.kind == reliable, identified, from, cellTopic, identity, role, body, pos)
	}
	if !ok {
		return
	}
	toClients, toServers := relay.Route(wm.origin, s.hub)
	if toClients && w != nil {
		seq := w.seq.Next(from)
		if hasOther(subs.Clients, p) {
			s.deliverNear(p, wm, w, subs.Clients, seq, pos, body)
		}
	}
	if toServers && hasOther(subs.Servers, p) {
		var out []byte
		if identified {
			out = relay.AppendTopicIdentityAt(nil, from, cellTopic, identity, role, body, pos)
		} else {
			out = relay.AppendTopicAt(nil, from, cellTopic, body, pos)
		}
		s.fanout(p, subs.Servers, wm.kind, wm.t, out, 0)
	}
}

// deliverNear queues a world message, numbered seq among its sender's, on
// each local subscriber of its cell but sender (nil: from NATS) that is
// near enough and due one at its rate. The message is encoded once, for the
// first subscriber that gets it.
func (s *Server) deliverNear(sender *peer, wm worldMsg, w *world, targets []*peer, seq uint64, pos relay.Position, body []byte) {
	var out []byte
	var key uint64
	if wm.kind == unreliable {
		key = conflateKey(s.keySeed, wm.from, w.topic)
	}
	ft := protocol.MessageType_TOPIC_FW
	if wm.t == protocol.MessageType_TOPIC_IDENTITY {
		ft = protocol.MessageType_TOPIC_IDENTITY_FW
	}
	n := 0
	for _, target := range targets {
		if target == sender {
			continue
		}
		at, ok := w.grid.Pos(target)
		if !ok {
			continue
		}
		rate := w.cfg.Rate(pos, at)
		if rate == 0 || seq%uint64(rate) != 0 {
			continue
		}
		if out == nil {
			if ft == protocol.MessageType_TOPIC_IDENTITY_FW {
				out = relay.AppendTopicIdentityFWAt(nil, wm.from, w.topic, wm.identity, wm.role, body, pos)
			} else {
				out = relay.AppendTopicFWAt(nil, wm.from, w.topic, body, pos)
			}
		}
		if target.sendLatest(wm.kind, out, key) {
			n++
		}
	}
	if out != nil {
		s.m.sent(ft, n, len(out))
	}
}

// refuseWorld drops a world message: a client is told (rate-limited), a
// server link's is only logged, since its client was told where it entered.
func (p *peer) refuseWorld(topic, reason string) {
	p.s.m.worldDrops.Add(1)
	p.log.Debug("world message dropped", "topic", topic, "reason", reason)
	if !p.creds().isServer() && p.errLimit.allow() {
		p.sendError(protocol.ErrorCode_ERROR_PUBLISH_DROPPED, topic, reason)
	}
}

// cellTopicsDenied takes the cell topics of worlds out of a client's
// SUBSCRIPTION, each answered with an ERROR: the server owns them.
func (p *peer) cellTopicsDenied(topics []string) []string {
	if p.s.rules == nil {
		return topics
	}
	kept := topics[:0]
	for _, t := range topics {
		if _, isCell := p.s.rules.lookup([]byte(t)); isCell {
			p.sendError(protocol.ErrorCode_ERROR_SUBSCRIPTION_DENIED, t, "cell topics are the server's: subscribe to the world topic")
			continue
		}
		kept = append(kept, t)
	}
	return kept
}

// deliverWorldFromBus is deliverFromBus for a world message from another
// server over NATS, on its sender's cell topic: to the near local
// subscribers, as publishWorld does for one from a mesh link.
func (s *Server) deliverWorldFromBus(kind chanKind, m relay.Message, ru rule, isCell bool) {
	if !isCell || !m.HasPosition || !spatial.Valid(m.Position) || len(m.Body) == 0 {
		s.m.worldDrops.Add(1)
		s.log.Debug("world message from NATS dropped: not on a cell topic with a position and a body", "topic", string(m.Topic))
		return
	}
	w := s.worlds.get(ru.name)
	if w == nil {
		return
	}
	var buf [128]byte
	subs, ok := s.subs.Lookup(spatial.AppendCellTopic(buf[:0], w.topic, w.cfg.CellOf(m.Position)))
	if !ok {
		return
	}
	seq := w.seq.Next(m.From)
	if len(subs.Clients) == 0 {
		return
	}
	wm := worldMsg{kind: kind, t: m.Type, m: m, ru: ru, isCell: true, origin: relay.FromServer,
		from: m.From, identity: m.Identity, role: m.Role}
	if s.fitsFromBus(wm, w.topic) {
		s.deliverNear(nil, wm, w, subs.Clients, seq, m.Position, m.Body)
	}
}

// fitsFromBus reports whether the copy a client gets of a world message from
// NATS fits max_message_size (another server's may be larger).
func (s *Server) fitsFromBus(wm worldMsg, topic string) bool {
	m := wm.m
	size := relay.SizeTopicFWAt(m.From, topic, m.Body, m.Position)
	if wm.t == protocol.MessageType_TOPIC_IDENTITY {
		size = relay.SizeTopicIdentityFWAt(m.From, topic, m.Identity, m.Role, m.Body, m.Position)
	}
	if size > s.cfg.MaxMessageSize {
		s.log.Debug("world message from NATS over max_message_size dropped", "topic", topic, "bytes", size)
		return false
	}
	return true
}
