package commserver

import (
	"github.com/webrtc-broker/webrtc-broker/core/policy"
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
		if s.policy.Governs(topic) {
			d := s.policy.OnPublish(p.policyPeer(), topic, body, kind == reliable)
			switch d.Verdict {
			case policy.Drop:
				s.m.policyDrops.Add(1)
				p.log.Debug("publish dropped by policy", "topic", topic, "reason", d.Reason)
				if p.errLimit.allow() {
					p.sendError(protocol.ErrorCode_ERROR_PUBLISH_DROPPED, topic, d.Reason)
				}
				return
			case policy.Replace:
				body = d.Body
			}
		}
	}
	if !subscribed {
		return
	}

	identified := t == protocol.MessageType_TOPIC_IDENTITY
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
			s.fanout(p, targets, kind, ft, out)
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
			s.fanout(p, targets, kind, t, out)
		}
	}
}

// hasOther reports whether targets holds a peer other than sender, so that
// nothing is encoded for a message that goes nowhere.
func hasOther(targets []*peer, sender *peer) bool {
	return len(targets) > 1 || (len(targets) == 1 && targets[0] != sender)
}

// fanout queues out, one encoded message of type t, on every target's
// channel of kind except the sender's.
func (s *Server) fanout(sender *peer, targets []*peer, kind chanKind, t protocol.MessageType, out []byte) {
	n := 0
	for _, target := range targets {
		if target != sender && target.send(kind, out) {
			n++
		}
	}
	s.m.sent(t, n, len(out))
}
