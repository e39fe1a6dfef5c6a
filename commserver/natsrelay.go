package commserver

import (
	"context"
	"fmt"
	"time"

	"github.com/webrtc-broker/webrtc-broker/commserver/natsbus"
	"github.com/webrtc-broker/webrtc-broker/core/relay"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// With cluster.transport=nats a server makes no links to other servers:
// the coordinator lists none to it (it registers with transport=nats), it
// dials none, and it refuses a server's CONNECT or AUTH. Instead:
//
//   - the announce loop hands the union of its clients' topics to the bus,
//     which subscribes to each topic's subject and unsubscribes when the
//     last local client of a topic leaves;
//   - publish, for a client's message that passed the topic policies,
//     fans out to the local subscribers and calls the bus's Publish once;
//   - the bus hands each envelope from another server to deliverFromBus,
//     which fans it out to the local subscribers only (policies ran where
//     the message entered the cluster).

// clusterBus is what the relay needs of a transport between servers that is
// not made of links: natsbus.Bus.
type clusterBus interface {
	// SetTopics makes the bus's subscriptions match the union of the local
	// clients' topics; called from the announce loop only.
	SetTopics(topics []string)
	// Publish sends one client message to the other servers.
	Publish(reliable, identified bool, from uint64, topic string, identity []byte, role protocol.Role, body []byte) error
	// PublishAt is Publish of a world message, with the sender's position,
	// on its cell topic (world.go).
	PublishAt(reliable, identified bool, from uint64, topic string, identity []byte, role protocol.Role, body []byte, pos relay.Position) error
	// Connected reports whether the bus can send and receive right now.
	Connected() bool
	// Connect connects it, once; it does not wait for a NATS server.
	Connect() error
	// Close drains and closes the bus, bounded by ctx.
	Close(ctx context.Context)
}

// natsMode reports whether cluster.transport is nats.
func (s *Server) natsMode() bool { return s.cfg.Cluster.Transport == TransportNATS }

// busCloseGrace bounds the drain of the NATS connection at shutdown.
const busCloseGrace = 5 * time.Second

// newBus builds the NATS bus of cluster.transport=nats; Run connects it.
func (s *Server) newBus() (*natsbus.Bus, error) {
	bus, err := natsbus.New(s.cfg.NATS, natsbus.Options{
		Logger:       s.log.With("component", "natsbus"),
		Registry:     s.reg,
		Deliver:      s.deliverFromBus,
		Name:         "commserver",
		ReconnectMin: s.cfg.Reconnect.Min,
		ReconnectMax: s.cfg.Reconnect.Max,
		OnReconnect:  s.busReconnected,
	})
	if err != nil {
		return nil, fmt.Errorf("commserver: %w", err)
	}
	return bus, nil
}

// closeBus drains the bus; a no-op in mesh mode.
func (s *Server) closeBus(ctx context.Context) {
	if s.bus == nil {
		return
	}
	grace, cancel := context.WithTimeout(context.WithoutCancel(ctx), busCloseGrace)
	defer cancel()
	s.bus.Close(grace)
}

// deliverFromBus fans a message from another server out to this server's
// clients subscribed to its topic, on the channel kind it was published on,
// in the form clients get (TOPIC_FW or TOPIC_IDENTITY_FW) with the original
// publisher's from_alias, identity and role. It runs on the topic's NATS
// subscription goroutine, so one topic's messages are fanned out in order.
func (s *Server) deliverFromBus(e natsbus.Envelope) {
	if s.fromBusSpecial(e) {
		return
	}
	kind := unreliable
	if e.Reliable {
		kind = reliable
	}
	var key uint64
	if s.rules != nil {
		ru, isCell := s.rules.lookup(e.Msg.Topic)
		if ru.world >= 0 {
			s.deliverWorldFromBus(kind, e.Msg, ru, isCell)
			return
		}
		if ru.conflate && kind == unreliable {
			key = conflateKey(s.keySeed, e.Msg.From, ru.name)
		}
	}
	subs, ok := s.subs.Lookup(e.Msg.Topic)
	if !ok || len(subs.Clients) == 0 {
		return
	}
	m := e.Msg
	var out []byte
	ft := protocol.MessageType_TOPIC_FW
	if m.Type == protocol.MessageType_TOPIC_IDENTITY {
		ft = protocol.MessageType_TOPIC_IDENTITY_FW
		out = relay.AppendTopicIdentityFW(nil, m.From, subs.Topic, m.Identity, m.Role, m.Body)
	} else {
		out = relay.AppendTopicFW(nil, m.From, subs.Topic, m.Body)
	}
	if len(out) > s.cfg.MaxMessageSize {
		// Another server with a larger max_message_size published it; a
		// copy over ours would fail every receiver's write.
		s.log.Debug("message from NATS over max_message_size dropped", "topic", subs.Topic, "bytes", len(out))
		return
	}
	s.fanout(nil, subs.Clients, kind, ft, out, key)
}
