package commserver

import (
	"github.com/webrtc-broker/webrtc-broker/core/policy"
	"github.com/webrtc-broker/webrtc-broker/core/relay"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// publish relays a TOPIC or TOPIC_IDENTITY that p sent on a channel of kind,
// per the relay rules: each form is encoded once and the same bytes go to
// every target's queue of the same kind; p never gets its own message back.
//
// From a client, the server stamps from_alias (and, for identity messages,
// the identity and role that authentication gave); from a server link they
// are kept, since they name the original publisher.
func (p *peer) publish(kind chanKind, msg []byte) {
	m, err := relay.ParseTopic(msg)
	if err != nil {
		p.violate(kind, protocol.MessageType_TOPIC, err)
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

	// The table's own copy of the topic: no allocation on the hot path.
	topic, subscribed := s.subs.Topic(m.Topic)
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

	identified := m.Type == protocol.MessageType_TOPIC_IDENTITY
	toClients, toServers := relay.Route(origin, s.hub)
	if toClients {
		if targets := s.subs.Clients(topic); hasOther(targets, p) {
			var out []byte
			t := protocol.MessageType_TOPIC_FW
			if identified {
				t = protocol.MessageType_TOPIC_IDENTITY_FW
				out = relay.AppendTopicIdentityFW(nil, from, topic, identity, role, body)
			} else {
				out = relay.AppendTopicFW(nil, from, topic, body)
			}
			s.fanout(p, targets, kind, t, out)
		}
	}
	if toServers {
		if targets := s.subs.Servers(topic); hasOther(targets, p) {
			var out []byte
			t := protocol.MessageType_TOPIC
			if identified {
				t = protocol.MessageType_TOPIC_IDENTITY
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
