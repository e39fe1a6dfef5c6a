package commserver

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/core/presence"
	"github.com/webrtc-broker/webrtc-broker/core/relay"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// Presence per topic (issue 14 item 2; the wire scheme is documented at
// PresenceMessage in protocol/broker.proto and in core/presence).
//
// The members of topic T are the clients subscribed to T. A client follows
// T's presence with PRESENCE_REQUEST and gets a PRESENCE snapshot, then an
// event for each change. Across servers: a server with followers of T
// announces the internal topic "$presence.T"; every server reports its own
// members of T (a snapshot, or a count above presence.max_members) on it,
// as an ordinary TOPIC from the server (from_alias = the reporting server's
// origin id, drawn at start), to the servers that announce it: when their
// announcement gains it and whenever its own members change. A lost link
// takes the members reported through it.

// maxFollowed caps how many topics one client follows the presence of.
const maxFollowed = 1024

// presences is the server's presence state. Lock order: presences.mu, then
// the history streams, the subscription table and the outbound queues.
type presences struct {
	mu    sync.Mutex
	table *presence.Table[*peer]
	// followers of each topic, and each follower's topics.
	followers map[string]map[*peer]struct{}
	follows   map[*peer][]string
	// announced holds the topics whose "$presence." topic the server last
	// announced: reports on others are stale and ignored.
	announced map[string]bool
	// linkTopics holds, per server link, the topics whose presence it
	// announced it wants, so that one it newly wants gets a report at once.
	linkTopics map[*peer][]string
	// relayed is a hub's copy of the last report of each origin on each
	// topic, as received (a TOPIC), with the link it came through: a server
	// that newly wants a topic's presence gets them from the hub, since the
	// reporters already saw the hub want it and send nothing new.
	relayed map[string]map[uint64]relayedReport
	// Over NATS (presence_bus.go): queried holds the followed topics whose
	// reports were asked for; wanted, when another server last asked for a
	// topic's.
	queried map[string]bool
	wanted  map[string]time.Time
}

type relayedReport struct {
	via *peer
	msg []byte
}

func newPresences() *presences {
	return &presences{
		table:      presence.New[*peer](),
		followers:  map[string]map[*peer]struct{}{},
		follows:    map[*peer][]string{},
		announced:  map[string]bool{},
		linkTopics: map[*peer][]string{},
		relayed:    map[string]map[uint64]relayedReport{},
		queried:    map[string]bool{},
		wanted:     map[string]time.Time{},
	}
}

// requestPresence applies a client's PRESENCE_REQUEST: its whole set of
// followed topics. Each newly followed topic gets a snapshot.
func (p *peer) requestPresence(kind chanKind, msg []byte) {
	if p.creds().isServer() {
		p.violate(kind, protocol.MessageType_PRESENCE_REQUEST, errUnexpected)
		return
	}
	var m protocol.PresenceRequestMessage
	if err := proto.Unmarshal(msg, &m); err != nil {
		p.violate(kind, protocol.MessageType_PRESENCE_REQUEST, fmt.Errorf("%w: %w", errMalformed, err))
		return
	}
	if len(m.Topics) > maxFollowed {
		p.violate(kind, protocol.MessageType_PRESENCE_REQUEST, fmt.Errorf("%w: %d topics, at most %d", errMalformed, len(m.Topics), maxFollowed))
		return
	}
	s := p.s
	next := make([]string, 0, len(m.Topics))
	for _, t := range m.Topics {
		if t == "" || strings.ContainsAny(t, " ") || t[0] == '$' || s.isCell(t) {
			p.sendError(protocol.ErrorCode_ERROR_SUBSCRIPTION_DENIED, t, "not a topic whose presence can be followed")
			continue
		}
		// Who is in a topic is for those who may subscribe to it.
		if s.policy != nil && s.policy.Governs(t) {
			if ok, reason := s.policy.OnSubscribe(p.policyPeer(), t); !ok {
				p.log.Debug("presence denied by policy", "topic", t, "reason", reason)
				p.sendError(protocol.ErrorCode_ERROR_SUBSCRIPTION_DENIED, t, reason)
				continue
			}
		}
		next = append(next, t)
	}
	slices.Sort(next)
	next = slices.Compact(next)

	ps := s.pres
	ps.mu.Lock()
	defer ps.mu.Unlock()
	old := ps.follows[p]
	reannounce := false
	for _, t := range old {
		if !slices.Contains(next, t) {
			delete(ps.followers[t], p)
			if len(ps.followers[t]) == 0 {
				delete(ps.followers, t)
				reannounce = true
			}
		}
	}
	for _, t := range next {
		if slices.Contains(old, t) {
			continue
		}
		// The view the others were told is brought up to date first, so the
		// newcomer's snapshot and the others' events agree.
		if ev, changed := s.presenceChangesLocked(t); changed {
			s.tellFollowers(t, ev)
		}
		if ps.followers[t] == nil {
			ps.followers[t] = map[*peer]struct{}{}
			reannounce = true
		}
		ps.followers[t][p] = struct{}{}
		s.sendPresence(t, ps.table.Current(t, s.cfg.Presence.MaxMembers), []*peer{p})
	}
	if len(next) == 0 {
		delete(ps.follows, p)
	} else {
		ps.follows[p] = next
	}
	if reannounce {
		s.notifyAnnounce()
	}
	p.log.Debug("presence followed", "topics", len(next))
}

// localMembers returns topic's members on this server.
func (s *Server) localMembers(topic string) []presence.Member {
	subs, _ := s.subs.Lookup([]byte(topic))
	out := make([]presence.Member, 0, len(subs.Clients))
	for _, c := range subs.Clients {
		cr := c.creds()
		out = append(out, presence.Member{Alias: c.alias, Identity: cr.identity, Role: cr.role})
	}
	return out
}

// isCell reports whether t is a world's interest cell topic: the server's
// own subscriptions, which change as clients move (world.go) without the
// presence being told, so their presence is not for following.
func (s *Server) isCell(t string) bool {
	if s.rules == nil {
		return false
	}
	_, isCell := s.rules.lookup([]byte(t))
	return isCell
}

// presenceChangesLocked returns what changed in topic's presence since its
// followers were last told: the table tracks the local members of a topic
// from its first call on (one walk of the topic), and is told each join
// and leave after (membersChangedLocked). presences.mu held.
func (s *Server) presenceChangesLocked(topic string) (presence.Event, bool) {
	s.pres.table.Track(topic, func() []presence.Member { return s.localMembers(topic) })
	return s.pres.table.Changes(topic, s.cfg.Presence.MaxMembers)
}

// memberOf is p as a member of a topic's presence.
func memberOf(p *peer) presence.Member {
	cr := p.creds()
	return presence.Member{Alias: p.alias, Identity: cr.identity, Role: cr.role}
}

// membersChangedLocked tells followers and interested servers that client p
// joined the topics of joined and left those of left. What followers are
// told costs O(1) per topic (the table is incremental); a report to other
// servers is a snapshot of at most presence.max_members members, or a
// count. presences.mu held.
func (s *Server) membersChangedLocked(p *peer, joined, left []string) {
	ps := s.pres
	for i, list := range [2][]string{joined, left} {
		for _, t := range list {
			if t == "" || t[0] == '$' {
				continue
			}
			if i == 0 {
				ps.table.Join(t, memberOf(p))
			} else {
				ps.table.Leave(t, p.alias)
			}
			if len(ps.followers[t]) > 0 {
				if ev, changed := s.presenceChangesLocked(t); changed {
					s.tellFollowers(t, ev)
				}
			}
			if subs, ok := s.subs.Lookup([]byte(presence.TopicPrefix + t)); ok && len(subs.Servers) > 0 {
				s.reportPresence(t, s.localForReport(t), subs.Servers)
			}
			if s.bus != nil {
				s.reportToBusIfWantedLocked(t)
			}
		}
	}
}

// localSet is what a report of a topic's local members needs: their
// number, and the members unless there are more than presence.max_members
// (then the report is a count, and the topic is not walked).
type localSet struct {
	members []presence.Member
	n       int
}

// localForReport returns topic's localSet.
func (s *Server) localForReport(topic string) localSet {
	subs, _ := s.subs.Lookup([]byte(topic))
	if n := len(subs.Clients); n > s.cfg.Presence.MaxMembers {
		return localSet{n: n}
	}
	m := s.localMembers(topic)
	return localSet{members: m, n: len(m)}
}

// encode builds the report's body, as presence.EncodeReport does with a
// limit of maxMembers (negative: a count only).
func (l localSet) encode(topic string, maxMembers int) ([]byte, error) {
	if l.n > maxMembers || len(l.members) != l.n {
		return presence.EncodeCount(topic, l.n)
	}
	return presence.EncodeReport(topic, l.members, maxMembers)
}

// tellFollowers sends ev about topic to its local followers.
func (s *Server) tellFollowers(topic string, ev presence.Event) {
	fs := s.pres.followers[topic]
	if len(fs) == 0 {
		return
	}
	to := make([]*peer, 0, len(fs))
	for f := range fs {
		to = append(to, f)
	}
	s.sendPresence(topic, ev, to)
}

// sendPresence encodes ev once and queues it to every peer of to; a
// message that would not fit max_message_size goes as a count.
func (s *Server) sendPresence(topic string, ev presence.Event, to []*peer) {
	msg, err := presence.Encode(topic, ev)
	if err == nil && len(msg) > s.cfg.MaxMessageSize {
		msg, err = presence.Encode(topic, presence.Event{Snapshot: ev.Snapshot, Count: ev.Count, CountsOnly: true})
	}
	if err != nil {
		s.log.Error("encode PRESENCE", "topic", topic, "err", err)
		return
	}
	n := 0
	for _, f := range to {
		if f.send(reliable, msg) {
			n++
		}
	}
	s.m.sent(protocol.MessageType_PRESENCE, n, len(msg))
}

// reportPresence sends this server's members of topic to the servers.
func (s *Server) reportPresence(topic string, local localSet, servers []*peer) {
	maxMembers := s.cfg.Presence.MaxMembers
	name := presence.TopicPrefix + topic
	var out []byte
	for {
		body, err := local.encode(topic, maxMembers)
		if err != nil {
			s.log.Error("encode presence report", "topic", topic, "err", err)
			return
		}
		out = relay.AppendTopic(nil, s.originID, name, body)
		if len(out) <= s.cfg.MaxMessageSize || maxMembers < 0 {
			break
		}
		maxMembers = -1 // too large as members: report the count
	}
	s.fanout(nil, servers, reliable, protocol.MessageType_TOPIC, out, 0)
}

// presenceReport applies another server's report, a TOPIC on "$presence.T"
// from a server link.
func (p *peer) presenceReport(m relay.Message) {
	if !bytes.HasPrefix(m.Topic, []byte(presence.TopicPrefix)) {
		return
	}
	s := p.s
	topic := string(m.Topic[len(presence.TopicPrefix):])
	if s.hub {
		s.keepRelayed(p, topic, m)
	}
	s.applyReport(p, topic, m.From, m.Body)
}

// keepRelayed records a report a hub relays (see presences.relayed).
func (s *Server) keepRelayed(via *peer, topic string, m relay.Message) {
	if _, err := presence.DecodeReport(topic, m.Body); err != nil {
		return
	}
	ps := s.pres
	ps.mu.Lock()
	defer ps.mu.Unlock()
	byOrigin := ps.relayed[topic]
	if byOrigin == nil {
		byOrigin = map[uint64]relayedReport{}
		ps.relayed[topic] = byOrigin
	}
	byOrigin[m.From] = relayedReport{via: via, msg: relay.AppendTopic(nil, m.From, presence.TopicPrefix+topic, m.Body)}
}

// applyReport applies server origin's report on topic, received via (a
// server link; nil for a transport that is not made of links).
func (s *Server) applyReport(via *peer, topic string, origin uint64, body []byte) {
	r, err := presence.DecodeReport(topic, body)
	if err != nil {
		s.log.Debug("bad presence report dropped", "topic", topic, "origin", origin, "err", err)
		return
	}
	ps := s.pres
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if !ps.announced[topic] {
		return // sent before it saw that nobody here follows it any more
	}
	if via == nil { // over NATS: renewed by the answers to our queries
		ps.table.SetRemoteAt(topic, origin, nil, r, time.Now())
	} else {
		ps.table.SetRemote(topic, origin, via, r)
	}
	if len(ps.followers[topic]) > 0 {
		if ev, changed := s.presenceChangesLocked(topic); changed {
			s.tellFollowers(topic, ev)
		}
	}
}

// presenceInterest runs after server link l's announcement is in force: a
// topic whose presence it newly wants gets this server's report.
func (s *Server) presenceInterest(l *peer) {
	var wanted []string
	for _, t := range s.subs.ServerSet(l) {
		if strings.HasPrefix(t, presence.TopicPrefix) {
			wanted = append(wanted, t[len(presence.TopicPrefix):])
		}
	}
	ps := s.pres
	ps.mu.Lock()
	defer ps.mu.Unlock()
	old := ps.linkTopics[l]
	for _, t := range wanted {
		if !slices.Contains(old, t) {
			if local := s.localForReport(t); local.n > 0 {
				s.reportPresence(t, local, []*peer{l})
			}
			for _, r := range ps.relayed[t] {
				if r.via != l {
					s.fanout(nil, []*peer{l}, reliable, protocol.MessageType_TOPIC, r.msg, 0)
				}
			}
		}
	}
	if len(wanted) == 0 {
		delete(ps.linkTopics, l)
	} else {
		ps.linkTopics[l] = wanted
	}
	// A hub forgets the reports of topics no server wants any more.
	for t := range ps.relayed {
		if subs, _ := s.subs.Lookup([]byte(presence.TopicPrefix + t)); len(subs.Servers) == 0 {
			delete(ps.relayed, t)
		}
	}
}

// relayGone tells the servers that want topic's presence, on behalf of
// origin, that it has no members any more: a hub does so when it loses
// the link origin's reports came through, since they cannot see it go.
// presences.mu held.
func (s *Server) relayGone(topic string, origin uint64, lost *peer) {
	subs, _ := s.subs.Lookup([]byte(presence.TopicPrefix + topic))
	if len(subs.Servers) == 0 {
		return
	}
	body, err := presence.EncodeReport(topic, nil, s.cfg.Presence.MaxMembers)
	if err != nil {
		return
	}
	s.fanout(lost, subs.Servers, reliable, protocol.MessageType_TOPIC, relay.AppendTopic(nil, origin, presence.TopicPrefix+topic, body), 0)
}

// followedTopics returns the "$presence." topics the server announces, and
// records them as announced, dropping what other servers reported on the
// rest.
func (s *Server) followedTopics() []string {
	ps := s.pres
	ps.mu.Lock()
	defer ps.mu.Unlock()
	out := make([]string, 0, len(ps.followers))
	next := make(map[string]bool, len(ps.followers))
	for t := range ps.followers {
		out = append(out, presence.TopicPrefix+t)
		next[t] = true
	}
	for _, t := range ps.table.Topics() {
		if !next[t] {
			ps.table.Drop(t)
		}
	}
	ps.announced = next
	slices.Sort(out)
	return out
}

// presenceGone forgets a peer being torn down: a client's memberships and
// follows, a server link's reports. old is the client's topic set before
// its subscriptions were removed. presences.mu held.
func (s *Server) presenceGoneLocked(p *peer, old []string) {
	ps := s.pres
	if p.isServerLink() {
		delete(ps.linkTopics, p)
		for t, byOrigin := range ps.relayed {
			for origin, r := range byOrigin {
				if r.via == p {
					delete(byOrigin, origin)
					s.relayGone(t, origin, p)
				}
			}
			if len(byOrigin) == 0 {
				delete(ps.relayed, t)
			}
		}
		for _, t := range ps.table.DropVia(p) {
			if len(ps.followers[t]) > 0 {
				if ev, changed := s.presenceChangesLocked(t); changed {
					s.tellFollowers(t, ev)
				}
			}
		}
		return
	}
	s.membersChangedLocked(p, nil, old)
	reannounce := false
	for _, t := range ps.follows[p] {
		delete(ps.followers[t], p)
		if len(ps.followers[t]) == 0 {
			delete(ps.followers, t)
			reannounce = true
		}
	}
	delete(ps.follows, p)
	if reannounce {
		s.notifyAnnounce()
	}
}

// setDiff returns the topics of sorted set b not in sorted set a (joined)
// and those of a not in b (left).
func setDiff(a, b []string) (joined, left []string) {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && a[i] < b[j]):
			left = append(left, a[i])
			i++
		case i == len(a) || b[j] < a[i]:
			joined = append(joined, b[j])
			j++
		default:
			i++
			j++
		}
	}
	return joined, left
}

// refuseInternal answers a client's publish on a "$" topic.
func (p *peer) refuseInternal(kind chanKind, topic []byte) {
	p.log.Debug("publish on a server topic refused", "topic", string(topic), "channel", kind.String())
	if p.errLimit.allow() {
		p.sendError(protocol.ErrorCode_ERROR_PUBLISH_DROPPED, string(topic), "topics starting with $ are the servers' own")
	}
}
