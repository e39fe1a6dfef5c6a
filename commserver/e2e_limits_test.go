package commserver_test

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/protocol"
	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

// maxMessageSize is commserver's default max_message_size, which the
// cluster's servers run with.
const maxMessageSize = 64 << 10

// TestE2ENearMaxMessage (issue 12, defect 1): a client's TOPIC that fits
// max_message_size as sent but whose relayed copy (from_alias, identity and
// role stamped) would not is refused to its sender alone with
// ERROR_MESSAGE_TOO_LARGE. Before, pion refused to send the copy, and the
// server closed every subscriber of the topic and the server link for good.
func TestE2ENearMaxMessage(t *testing.T) {
	cl := cluster.Start(t, cluster.Options{Servers: 2})
	pub := cl.Client(t, cl.On(0))
	local := cl.Client(t, cl.On(0))
	remote := cl.Client(t, cl.On(1))
	subscribe(t, local, "big")
	subscribe(t, remote, "big")
	reach(t, pub, remote, "big", true)
	reach(t, pub, local, "big", true)
	// Each subscriber also got the other's probes: drain both up to a sync.
	publish(t, pub, "big", "ready", true)
	receive(t, local, "big", "ready")
	receive(t, remote, "big", "ready")

	for _, identity := range []bool{false, true} {
		typ := protocol.MessageType_TOPIC
		if identity {
			typ = protocol.MessageType_TOPIC_IDENTITY
		}
		t.Run(typ.String(), func(t *testing.T) {
			// The largest message the server accepts: exactly max_message_size.
			body := bodyFor(t, typ, "big", maxMessageSize)
			send := pub.Publish
			if identity {
				send = pub.PublishIdentity
			}
			if err := send("big", body, true); err != nil {
				t.Fatal(err)
			}
			e := cluster.Receive(t, pub, eventTimeout, func(m client.Message) bool { return m.Type == protocol.MessageType_ERROR })
			if e.ErrorCode != protocol.ErrorCode_ERROR_MESSAGE_TOO_LARGE || e.Topic != "big" {
				t.Fatalf("sender got error %s on %q (%q), want ERROR_MESSAGE_TOO_LARGE on \"big\"", e.ErrorCode, e.Topic, e.Reason)
			}
			marker := "marker after " + typ.String()
			publish(t, pub, "big", marker, true)
			// The refused message would have come first.
			next(t, local, "big", marker)
			next(t, remote, "big", marker)
			for i := range 2 {
				if n := cl.Server(i).Stats().Servers; n != 1 {
					t.Fatalf("server %d has %d server links, want 1", i, n)
				}
			}
		})
	}
}

// bodyFor returns a body that makes a client's message of type t on topic
// exactly size bytes long.
func bodyFor(t *testing.T, typ protocol.MessageType, topic string, size int) []byte {
	t.Helper()
	encoded := func(n int) int {
		body := make([]byte, n)
		if typ == protocol.MessageType_TOPIC_IDENTITY {
			return proto.Size(&protocol.TopicIdentityMessage{Type: typ, Topic: topic, Body: body})
		}
		return proto.Size(&protocol.TopicMessage{Type: typ, Topic: topic, Body: body})
	}
	n := size - encoded(0)
	for encoded(n) > size {
		n--
	}
	if encoded(n) != size {
		t.Fatalf("no body makes a %s on %q %d bytes long", typ, topic, size)
	}
	return bytes.Repeat([]byte("x"), n)
}
