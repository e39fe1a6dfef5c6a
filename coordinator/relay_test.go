package coordinator

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/webrtc-broker/webrtc-broker/internal/testwait"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// spoofed is the from_alias every test message claims; the coordinator must
// replace it.
const spoofed = 424242

func TestRelayStampsTheSendersAliasOnEveryType(t *testing.T) {
	tc := startCoordinator(t, Config{}, Options{}, nil)
	client, server, other := dialClient(t, tc), dialServer(t, tc), dialServer(t, tc)
	clientAlias, serverAlias, otherAlias := client.welcome().GetAlias(), server.welcome().GetAlias(), other.welcome().GetAlias()

	messages := []struct {
		name string
		msg  func(to uint64) proto.Message
	}{
		{"CONNECT", func(to uint64) proto.Message {
			return &protocol.ConnectMessage{Type: protocol.MessageType_CONNECT, FromAlias: spoofed, ToAlias: to,
				FromRole: protocol.Role_COMMUNICATION_SERVER_HUB}
		}},
		{"WEBRTC_OFFER", func(to uint64) proto.Message {
			return &protocol.WebRtcMessage{Type: protocol.MessageType_WEBRTC_OFFER, FromAlias: spoofed, ToAlias: to,
				Data: []byte(`{"type":"offer","sdp":"v=0"}`)}
		}},
		{"WEBRTC_ANSWER", func(to uint64) proto.Message {
			return &protocol.WebRtcMessage{Type: protocol.MessageType_WEBRTC_ANSWER, FromAlias: spoofed, ToAlias: to,
				Data: []byte(`{"type":"answer","sdp":"v=0"}`)}
		}},
		{"WEBRTC_ICE_CANDIDATE", func(to uint64) proto.Message {
			return &protocol.WebRtcMessage{Type: protocol.MessageType_WEBRTC_ICE_CANDIDATE, FromAlias: spoofed, ToAlias: to,
				Data: []byte(`{"candidate":"candidate:1 1 udp 1 127.0.0.1 5000 typ host"}`)}
		}},
		{"CONNECTION_REFUSED", func(to uint64) proto.Message {
			return &protocol.ConnectionRefusedMessage{Type: protocol.MessageType_CONNECTION_REFUSED, FromAlias: spoofed, ToAlias: to,
				Reason: protocol.ConnectionRefusedReason_SERVER_FULL, Data: []byte("full")}
		}},
	}
	directions := []struct {
		name         string
		from, to     *testPeer
		fromAl, toAl uint64
		fromRole     protocol.Role
	}{
		{"client to server", client, server, clientAlias, serverAlias, protocol.Role_CLIENT},
		{"server to client", server, client, serverAlias, clientAlias, protocol.Role_COMMUNICATION_SERVER},
		{"server to server", server, other, serverAlias, otherAlias, protocol.Role_COMMUNICATION_SERVER},
	}
	for _, m := range messages {
		for _, d := range directions {
			t.Run(m.name+"/"+d.name, func(t *testing.T) {
				sent := m.msg(d.toAl)
				d.from.send(sent)

				got := proto.Clone(sent)
				proto.Reset(got)
				if err := proto.Unmarshal(d.to.next(), got); err != nil {
					t.Fatalf("decode: %v", err)
				}
				want := withSender(sent, d.fromAl, d.fromRole)
				if !proto.Equal(got, want) {
					t.Fatalf("relayed\n got %v\nwant %v", got, want)
				}
			})
		}
		// The counter moves just after the message is queued, so poll.
		testwait.For(t, waitTimeout, m.name+" counted once per direction", func() bool {
			return metricValue(t, tc.Coordinator, "coordinator_messages_relayed_total", "type", m.name) == float64(len(directions))
		})
	}
}

// withSender returns a copy of m with from_alias set, whatever m's type, and
// from_role where the message has one (CONNECT): what the coordinator stamps.
func withSender(m proto.Message, alias uint64, role protocol.Role) proto.Message {
	c := proto.Clone(m)
	r := c.ProtoReflect()
	r.Set(r.Descriptor().Fields().ByName("from_alias"), protoreflect.ValueOfUint64(alias))
	if f := r.Descriptor().Fields().ByName("from_role"); f != nil {
		r.Set(f, protoreflect.ValueOfEnum(protoreflect.EnumNumber(role)))
	}
	return c
}

func TestClientCannotAddressAnotherClient(t *testing.T) {
	tc := startCoordinator(t, Config{}, Options{}, nil)
	alice, bob, server := dialClient(t, tc), dialClient(t, tc), dialServer(t, tc)
	aliceAlias, bobAlias, serverAlias := alice.welcome().GetAlias(), bob.welcome().GetAlias(), server.welcome().GetAlias()

	alice.send(connectMsg(bobAlias)) // forbidden: dropped
	// alice's read loop handles her messages in order, so once the server
	// has her second one, the first has been dropped or queued for bob.
	expectRelay(t, alice, aliceAlias, server, serverAlias)
	// Anything queued for bob before the server's message would arrive first.
	expectRelay(t, server, serverAlias, bob, bobAlias)
	if v := metricValue(t, tc.Coordinator, "coordinator_messages_dropped_total", "reason", dropBadMessage); v != 1 {
		t.Fatalf("bad messages dropped = %v, want 1", v)
	}
}
