package commserver

import (
	"bytes"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/core/relay"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// TestPublishSizeBoundary (issue 12, defect 1): the largest message publish
// relays has copies of exactly max_message_size; one byte more and it is
// refused to its sender with ERROR_MESSAGE_TOO_LARGE and queued to nobody.
func TestPublishSizeBoundary(t *testing.T) {
	for _, identified := range []bool{false, true} {
		name := "TOPIC"
		if identified {
			name = "TOPIC_IDENTITY"
		}
		t.Run(name, func(t *testing.T) {
			f := newRelayFixture(t, RoleServer, 2, 1)
			sender, other, srv := f.clients[0], f.clients[1], f.servers[0]
			limit := f.s.cfg.MaxMessageSize
			identity, role := sender.creds().identity, sender.creds().role
			// The body whose relayed copy is exactly limit bytes.
			n := limit
			for relayedSize(identified, sender.alias, "t", identity, role, make([]byte, n)) > limit {
				n--
			}
			if got := relayedSize(identified, sender.alias, "t", identity, role, make([]byte, n)); got != limit {
				t.Fatalf("no body makes a relayed copy of exactly %d bytes (closest %d)", limit, got)
			}
			encode := func(body []byte) []byte {
				if identified {
					return relay.AppendTopicIdentity(nil, 0, "t", nil, 0, body)
				}
				return relay.AppendTopic(nil, 0, "t", body)
			}

			toOther, toServer := drain(t, other, reliable), drain(t, srv, reliable)
			largest := bytes.Repeat([]byte("x"), n)
			sender.handle(sender.chans[reliable], encode(largest))
			for who, sink := range map[string]collectSink{"the other client": toOther, "the server": toServer} {
				b := received(t, who, sink)
				if len(b) != limit {
					t.Fatalf("%s got a %d-byte copy, want exactly max_message_size %d", who, len(b), limit)
				}
				if m, err := relay.ParseTopic(b); err != nil || !bytes.Equal(m.Body, largest) {
					t.Fatalf("%s got a copy that does not carry the body (err %v)", who, err)
				}
			}
			expectNothing(t, "the sender", sender)

			sender.handle(sender.chans[reliable], encode(append(largest, 'x')))
			// The refused message would come before this marker.
			sender.handle(sender.chans[reliable], encode([]byte("marker")))
			for who, sink := range map[string]collectSink{"the other client": toOther, "the server": toServer} {
				if m := expect(t, who, sink); string(m.Body) != "marker" {
					t.Fatalf("%s got a %d-byte body, want the marker: the oversized copy was relayed", who, len(m.Body))
				}
			}
			var e protocol.ErrorMessage
			if err := proto.Unmarshal(received(t, "the sender", drain(t, sender, reliable)), &e); err != nil {
				t.Fatal(err)
			}
			if e.Code != protocol.ErrorCode_ERROR_MESSAGE_TOO_LARGE || e.Topic != "t" {
				t.Fatalf("sender got %s on %q (%q), want ERROR_MESSAGE_TOO_LARGE on \"t\"", e.Code, e.Topic, e.Reason)
			}
			if v := sender.bad.Load(); v != 0 {
				t.Fatalf("sender has %d violations: a message the sender could not size is not one", v)
			}
		})
	}
}

// received returns the next message written to sink, raw.
func received(t *testing.T, who string, sink collectSink) []byte {
	t.Helper()
	select {
	case b := <-sink:
		return b
	case <-time.After(5 * time.Second):
		t.Fatalf("%s got nothing", who)
	}
	return nil
}
