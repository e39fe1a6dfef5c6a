package commserver

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/core/logging"
	"github.com/webrtc-broker/webrtc-broker/core/relay"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// relayFixture is a server whose peers are authenticated and subscribed to
// topic "t" but have no network: enough to drive publish and see what it
// queues, without pion.
type relayFixture struct {
	s       *Server
	clients []*peer
	servers []*peer
}

func newRelayFixture(tb testing.TB, role string, clients, servers int) *relayFixture {
	tb.Helper()
	cfg := Config{Role: role}
	cfg.Outbound.UnreliableMessages = 4
	s, err := New(cfg, Options{Logger: logging.Discard()})
	if err != nil {
		tb.Fatal(err)
	}
	s.ctx = context.Background()
	f := &relayFixture{s: s}
	add := func(alias uint64, role protocol.Role) *peer {
		s.mu.Lock()
		p := s.newPeer(alias, true, role)
		s.mu.Unlock()
		p.establishing.Stop()
		p.gate.settle(credentials{role: role, identity: fmt.Appendf(nil, "id-%d", alias)}, nil)
		return p
	}
	for i := range clients {
		p := add(uint64(100+i), protocol.Role_CLIENT)
		s.subs.SetClient(p, []string{"t"})
		f.clients = append(f.clients, p)
	}
	for i := range servers {
		p := add(uint64(200+i), protocol.Role_COMMUNICATION_SERVER)
		s.subs.SetServer(p, []string{"t"})
		f.servers = append(f.servers, p)
	}
	tb.Cleanup(func() {
		for _, p := range append(f.clients, f.servers...) {
			p.cancel()
			for _, ch := range p.chans {
				ch.q.Close()
			}
		}
	})
	return f
}

// collectSink records what a writer hands it.
type collectSink chan []byte

func (c collectSink) Write(b []byte) (int, error) { c <- b; return len(b), nil }
func (c collectSink) Buffered() uint64            { return 0 }

// drain starts a writer on p's channel of kind and returns what it writes.
func drain(t *testing.T, p *peer, kind chanKind) collectSink {
	t.Helper()
	sink := make(collectSink, 16)
	go func() { _ = p.chans[kind].q.Run(p.ctx, sink, 1<<30, nil) }()
	return sink
}

// expect returns the next message written to sink, decoded.
func expect(t *testing.T, who string, sink collectSink) relay.Message {
	t.Helper()
	select {
	case b := <-sink:
		m, err := relay.ParseTopic(b)
		if err != nil {
			t.Fatalf("%s got an undecodable message: %v", who, err)
		}
		return m
	case <-time.After(5 * time.Second):
		t.Fatalf("%s got nothing", who)
	}
	return relay.Message{}
}

func expectNothing(t *testing.T, who string, p *peer) {
	t.Helper()
	for _, ch := range p.chans {
		if n, _ := ch.q.Len(); n != 0 {
			t.Fatalf("%s has %d messages queued on %s, want none", who, n, ch.kind)
		}
	}
}

func TestPublishFollowsTheRelayRules(t *testing.T) {
	topicMsg := relay.AppendTopic(nil, 999, "t", []byte("body"))
	identityMsg := relay.AppendTopicIdentity(nil, 999, "t", []byte("claimed"), protocol.Role_COMMUNICATION_SERVER, []byte("body"))

	t.Run("a client's TOPIC: other clients get TOPIC_FW stamped with its alias, servers get TOPIC", func(t *testing.T) {
		f := newRelayFixture(t, RoleServer, 2, 1)
		sender, other, srv := f.clients[0], f.clients[1], f.servers[0]
		toOther, toServer := drain(t, other, unreliable), drain(t, srv, unreliable)
		sender.handle(sender.chans[unreliable], topicMsg)
		if m := expect(t, "the other client", toOther); m.Type != protocol.MessageType_TOPIC_FW || m.From != sender.alias || string(m.Body) != "body" || string(m.Topic) != "t" {
			t.Fatalf("other client got %+v, want TOPIC_FW from %d", m, sender.alias)
		}
		if m := expect(t, "the server", toServer); m.Type != protocol.MessageType_TOPIC || m.From != sender.alias {
			t.Fatalf("server got %+v, want TOPIC from %d", m, sender.alias)
		}
		expectNothing(t, "the sender", sender)
	})

	t.Run("a client's TOPIC_IDENTITY carries its authenticated identity and role, not the claimed ones", func(t *testing.T) {
		f := newRelayFixture(t, RoleServer, 2, 1)
		sender := f.clients[0]
		toOther, toServer := drain(t, f.clients[1], reliable), drain(t, f.servers[0], reliable)
		sender.handle(sender.chans[reliable], identityMsg)
		for who, sink := range map[string]collectSink{"client": toOther, "server": toServer} {
			m := expect(t, who, sink)
			if m.From != sender.alias || string(m.Identity) != "id-100" || m.Role != protocol.Role_CLIENT {
				t.Fatalf("%s got from %d identity %q role %v, want %d id-100 CLIENT", who, m.From, m.Identity, m.Role, sender.alias)
			}
		}
	})

	t.Run("a server's TOPIC goes to local clients only, keeping the original publisher", func(t *testing.T) {
		f := newRelayFixture(t, RoleServer, 1, 2)
		toClient := drain(t, f.clients[0], reliable)
		f.servers[0].handle(f.servers[0].chans[reliable], identityMsg)
		m := expect(t, "the client", toClient)
		if m.Type != protocol.MessageType_TOPIC_IDENTITY_FW || m.From != 999 || string(m.Identity) != "claimed" || m.Role != protocol.Role_COMMUNICATION_SERVER {
			t.Fatalf("client got %+v, want the server's from_alias, identity and role kept", m)
		}
		expectNothing(t, "the other server", f.servers[1])
	})

	t.Run("on a hub, a server's TOPIC also goes to the other servers, never back", func(t *testing.T) {
		f := newRelayFixture(t, RoleHub, 1, 2)
		toClient, toOther := drain(t, f.clients[0], reliable), drain(t, f.servers[1], reliable)
		f.servers[0].handle(f.servers[0].chans[reliable], topicMsg)
		if m := expect(t, "the client", toClient); m.Type != protocol.MessageType_TOPIC_FW || m.From != 999 {
			t.Fatalf("client got %+v", m)
		}
		if m := expect(t, "the other server", toOther); m.Type != protocol.MessageType_TOPIC || m.From != 999 {
			t.Fatalf("other server got %+v", m)
		}
		expectNothing(t, "the sending server", f.servers[0])
	})
}

// BenchmarkPublishFanout: one encode per relayed message, whatever the
// number of subscribers (allocs/op stays at 1).
func BenchmarkPublishFanout(b *testing.B) {
	msg := relay.AppendTopic(nil, 0, "t", make([]byte, 100))
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			f := newRelayFixture(b, RoleServer, n+1, 0)
			sender := f.clients[0]
			b.ReportAllocs()
			for b.Loop() {
				sender.handle(sender.chans[unreliable], msg)
			}
		})
	}
}
