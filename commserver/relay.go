package commserver

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/webrtc-broker/webrtc-broker/core/policy"
	"github.com/webrtc-broker/webrtc-broker/core/presence"
	"github.com/webrtc-broker/webrtc-broker/core/relay"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// publish relays a TOPIC or TOPIC_IDENTITY that p sent on a channel of kind,
// per the relay rules: each form is encoded once and the same bytes go to
// every target's queue of the same kind; p never gets its own message back.
// t is msg's type as handle read it (with its framing checked), so the
// message is parsed once and the table looked up once.
//
// From a client, the server stamps from_alias (and, for identity messages,
// the identity and role that authentication gave); from a server link they
// are kept, since they name the original publisher.
func (p *peer) publish(kind chanKind, t protocol.MessageType, msg []byte) {
	m, err := relay.ParseTopicAs(t, msg)
	if err != nil {
		p.violate(kind, t, err)
		return
	}
	s := p.s
	c := p.creds()
	origin := relay.FromClient
	from, identity, role := p.alias, c.identity, c.role
	if c.isServer() {
		origin = relay.FromServer
		from, identity, role = m.From, m.Identity, m.Role
	}

	// Topics starting with $ are the servers' own (presence reports).
	if origin == relay.FromClient && len(m.Topic) > 0 && m.Topic[0] == '$' {
		p.refuseInternal(kind, m.Topic)
		return
	}
	if origin == relay.FromServer && len(m.Topic) > len(presence.TopicPrefix) && m.Topic[0] == '$' {
		p.presenceReport(m)
	}

	// World topics and conflate keys (rules.go); nil rules cost nothing.
	var key uint64
	if s.rules != nil {
		ru, isCell := s.rules.lookup(m.Topic)
		if ru.world >= 0 {
			p.publishWorld(worldMsg{kind: kind, t: t, m: m, ru: ru, isCell: isCell, origin: origin,
				from: from, identity: identity, role: role})
			return
		}
		if ru.conflate && kind == unreliable {
			key = conflateKey(s.keySeed, from, ru.name)
		}
	}

	// One snapshot of both subscriber lists, with the table's own copy of
	// the topic: no allocation on the hot path. A subscription that changes
	// while the policy runs applies from the next message.
	subs, subscribed := s.subs.Lookup(m.Topic)
	topic := subs.Topic
	body := m.Body
	// Policies apply to clients' messages only: a server link's were checked
	// where they entered the cluster.
	if s.policy != nil && origin == relay.FromClient {
		if !subscribed {
			topic = string(m.Topic)
		}
		var ok, latest bool
		if body, latest, ok = p.applyPolicy(kind, topic, body); !ok {
			return
		}
		if latest && kind == unreliable && key == 0 {
			key = conflateKey(s.keySeed, from, topic)
		}
	}
	toBus := s.bus != nil && origin == relay.FromClient
	identified := t == protocol.MessageType_TOPIC_IDENTITY
	// History topics (history.go): s.hist is nil without history rules, so
	// other deployments pay one nil check.
	if s.hist != nil && kind == reliable {
		if st := s.hist.lookup(m.Topic); st != nil {
			if p.fits(relayedSize(identified, from, st.topic, identity, role, body)+streamOverhead, st.topic) {
				if toBus {
					_ = s.bus.Publish(true, identified, from, st.topic, identity, role, body)
				}
				p.publishStream(st, origin, t, from, identity, role, body)
			}
			return
		}
	}
	if !subscribed {
		if !toBus {
			return
		}
		// No local subscriber, but other servers may have some: NATS
		// knows, this server does not. (The policy branch may have made
		// the string already.)
		if topic == "" {
			topic = string(m.Topic)
		}
	}
	if !p.relayable(identified, from, topic, identity, role, body) {
		return
	}
	if toBus {
		// Once, whoever subscribes; a failure is counted and logged by the
		// bus (the local subscribers still get the message).
		_ = s.bus.Publish(kind == reliable, identified, from, topic, identity, role, body)
	}
	toClients, toServers := relay.Route(origin, s.hub)
	if toClients {
		if targets := subs.Clients; hasOther(targets, p) {
			var out []byte
			ft := protocol.MessageType_TOPIC_FW
			if identified {
				ft = protocol.MessageType_TOPIC_IDENTITY_FW
				out = relay.AppendTopicIdentityFW(nil, from, topic, identity, role, body)
			} else {
				out = relay.AppendTopicFW(nil, from, topic, body)
			}
			s.fanout(p, targets, kind, ft, out, key)
		}
	}
	if toServers {
		if targets := subs.Servers; hasOther(targets, p) {
			// Relayed between servers in the form it came in.
			var out []byte
			if identified {
				out = relay.AppendTopicIdentity(nil, from, topic, identity, role, body)
			} else {
				out = relay.AppendTopic(nil, from, topic, body)
			}
			s.fanout(p, targets, kind, t, out, 0)
		}
	}
}

// relayable reports whether the copies publish makes of a message fit
// max_message_size, and refuses the message to its sender alone if not. A
// client's message may fit as sent and not once from_alias (and identity and
// role) are stamped; pion would refuse to send such a copy, and the failed
// write would close every receiver, server links included.
func (p *peer) relayable(identified bool, from uint64, topic string, identity []byte, role protocol.Role, body []byte) bool {
	return p.fits(relayedSize(identified, from, topic, identity, role, body), topic)
}

// applyPolicy runs the publish policy on a client's message on a governed
// topic: the body to relay and whether the policy made it latest-wins, or
// false when the policy dropped it (the client is told).
func (p *peer) applyPolicy(kind chanKind, topic string, body []byte) (out []byte, conflate, ok bool) {
	s := p.s
	if s.policy == nil || !s.policy.Governs(topic) {
		return body, false, true
	}
	d := s.policy.OnPublish(p.policyPeer(), topic, body, kind == reliable)
	switch d.Verdict {
	case policy.Drop:
		s.m.policyDrops.Add(1)
		p.log.Debug("publish dropped by policy", "topic", topic, "reason", d.Reason)
		if p.errLimit.allow() {
			p.sendError(protocol.ErrorCode_ERROR_PUBLISH_DROPPED, topic, d.Reason)
		}
		return nil, false, false
	case policy.Replace:
		return d.Body, d.Conflate, true
	}
	return body, d.Conflate, true
}

// fits reports whether a relayed copy of size bytes fits max_message_size,
// and refuses the message to its sender alone if not (see relayable).
func (p *peer) fits(size int, topic string) bool {
	limit := p.s.cfg.MaxMessageSize
	if size <= limit {
		return true
	}
	level := slog.LevelDebug
	if p.errLimit.allow() {
		level = slog.LevelInfo
		p.sendError(protocol.ErrorCode_ERROR_MESSAGE_TOO_LARGE, topic,
			fmt.Sprintf("relayed copy would be %d bytes, over max_message_size %d", size, limit))
	}
	p.log.Log(context.Background(), level, "publish refused: relayed copy over max_message_size",
		"topic", topic, "bytes", size, "max_message_size", limit)
	return false
}

// relayedSize is the size of the largest copy publish makes: the form sent
// to clients and the one sent to servers carry the same fields, but both are
// measured so that the check stays exact if either changes.
func relayedSize(identified bool, from uint64, topic string, identity []byte, role protocol.Role, body []byte) int {
	if identified {
		return max(relay.SizeTopicIdentityFW(from, topic, identity, role, body),
			relay.SizeTopicIdentity(from, topic, identity, role, body))
	}
	return max(relay.SizeTopicFW(from, topic, body), relay.SizeTopic(from, topic, body))
}

// hasOther reports whether targets holds a peer other than sender, so that
// nothing is encoded for a message that goes nowhere.
func hasOther(targets []*peer, sender *peer) bool {
	return len(targets) > 1 || (len(targets) == 1 && targets[0] != sender)
}

// fanout queues out, one encoded message of type t, on every target's
// channel of kind except the sender's; with a conflate key other than 0, it
// supersedes the target's queued message of the same key (sendLatest).
func (s *Server) fanout(sender *peer, targets []*peer, kind chanKind, t protocol.MessageType, out []byte, key uint64) {
	n := 0
	for _, target := range targets {
		if target != sender && target.sendLatest(kind, out, key) {
			n++
		}
	}
	s.m.sent(t, n, len(out))
}
