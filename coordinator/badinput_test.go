package coordinator

import (
	"bytes"
	"errors"
	"testing"

	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/internal/testwait"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

func TestBadInputIsDroppedAndEveryoneElseIsServed(t *testing.T) {
	const readLimit = 4096
	offer, err := proto.Marshal(&protocol.WebRtcMessage{Type: protocol.MessageType_WEBRTC_OFFER, ToAlias: 1 << 40,
		Data: bytes.Repeat([]byte("s"), 200)})
	if err != nil {
		t.Fatal(err)
	}
	mustMarshal := func(m proto.Message) []byte {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := []struct {
		name string
		// bad builds the input from the offending peer's view: the alias of
		// a server and of another client it could address.
		bad        func(server, client uint64) []byte
		badMessage bool // counted as a bad message (else just dropped)
		closes     bool // the offending socket is closed
	}{
		{"random bytes", func(uint64, uint64) []byte { return []byte{0xff, 0xfe, 0x13, 0x37, 0x00, 0x99} }, true, false},
		{"empty message", func(uint64, uint64) []byte { return nil }, true, false},
		{"truncated protobuf", func(uint64, uint64) []byte { return offer[:len(offer)/2] }, true, false},
		{"unknown type", func(s, _ uint64) []byte {
			return mustMarshal(&protocol.ConnectMessage{Type: protocol.MessageType(99), ToAlias: s})
		}, true, false},
		{"type the coordinator does not relay", func(s, _ uint64) []byte {
			return mustMarshal(&protocol.WelcomeMessage{Type: protocol.MessageType_WELCOME, Alias: s})
		}, true, false},
		{"no to_alias", func(uint64, uint64) []byte { return mustMarshal(connectMsg(0)) }, true, false},
		{"to another client", func(_, c uint64) []byte { return mustMarshal(connectMsg(c)) }, true, false},
		{"unknown to_alias", func(uint64, uint64) []byte { return mustMarshal(connectMsg(1 << 52)) }, false, false},
		{"oversized", func(uint64, uint64) []byte { return bytes.Repeat([]byte{0x08}, 2*readLimit) }, false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tc := startCoordinator(t, Config{MaxMessageSize: readLimit}, Options{}, nil)
			offender, client, server := dialClient(t, tc), dialClient(t, tc), dialServer(t, tc)
			offenderAlias, clientAlias, serverAlias := offender.welcome().GetAlias(), client.welcome().GetAlias(), server.welcome().GetAlias()

			offender.sendRaw(c.bad(serverAlias, clientAlias))

			if c.closes {
				err := offender.waitClosed()
				if ce := (*websocket.CloseError)(nil); errors.As(err, &ce) && ce.Code != websocket.CloseMessageTooBig {
					t.Fatalf("closed with %v, want 1009 (message too big)", err)
				}
			} else {
				// Still served: its next good message is relayed.
				expectRelay(t, offender, offenderAlias, server, serverAlias)
			}
			expectRelay(t, client, clientAlias, server, serverAlias)
			expectRelay(t, server, serverAlias, client, clientAlias)

			want := 0.0
			if c.badMessage {
				want = 1
			}
			if v := metricValue(t, tc.Coordinator, "coordinator_messages_dropped_total", "reason", dropBadMessage); v != want {
				t.Fatalf("bad messages = %v, want %v", v, want)
			}
		})
	}
}

func TestAPeerThatKeepsSendingGarbageIsClosed(t *testing.T) {
	tc := startCoordinator(t, Config{}, Options{}, nil)
	offender, client, server := dialServer(t, tc), dialClient(t, tc), dialServer(t, tc)
	offender.welcome()
	clientAlias, serverAlias := client.welcome().GetAlias(), server.welcome().GetAlias()

	for range maxBadMessages {
		offender.sendRaw([]byte("not a protobuf \xff\xff\xff"))
	}
	err := offender.waitClosed()
	if !websocket.IsCloseError(err, websocket.ClosePolicyViolation) {
		t.Fatalf("closed with %v, want 1008 (policy violation)", err)
	}
	testwait.For(t, waitTimeout, "the offender to leave the server list", func() bool { return tc.serverCount() == 1 })
	expectRelay(t, client, clientAlias, server, serverAlias)
	if got := dialClient(t, tc).welcome().GetAvailableServers(); len(got) != 1 || got[0] != serverAlias {
		t.Fatalf("offered %v after the offender left, want [%d]", got, serverAlias)
	}
}
