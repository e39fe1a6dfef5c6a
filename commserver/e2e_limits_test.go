package commserver_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
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
	reach(t, pub, remote, "big", client.Reliable)
	reach(t, pub, local, "big", client.Reliable)
	// Each subscriber also got the other's probes: drain both up to a sync.
	publish(t, pub, "big", "ready", client.Reliable)
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
			if err := send("big", body, client.Reliable); err != nil {
				t.Fatal(err)
			}
			e := cluster.ReceiveError(t, pub, eventTimeout, func(*client.ServerError) bool { return true })
			if e.Code != protocol.ErrorCode_ERROR_MESSAGE_TOO_LARGE || e.Topic != "big" {
				t.Fatalf("sender got error %s on %q (%q), want ERROR_MESSAGE_TOO_LARGE on \"big\"", e.Code, e.Topic, e.Reason)
			}
			marker := "marker after " + typ.String()
			publish(t, pub, "big", marker, client.Reliable)
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

// TestE2ELargeTopicUnion (issue 12, defect 4): clients on server 0 subscribe
// to sets that each fit max_topics_size but whose union, which server 0
// announces to server 1, is far larger, and gzip-compressed still larger
// than one data-channel message. Server 1 applies it and delivers to server
// 0's subscribers, and the link stays. Before, server 1 held the announcement
// to the client limit, or pion refused to send it, and the link was closed.
func TestE2ELargeTopicUnion(t *testing.T) {
	const clients = 4
	cl := cluster.Start(t, cluster.Options{Servers: 2})
	rng := rand.New(rand.NewPCG(12, 4))
	var last []string
	union := 0
	for range clients {
		// Random hex: compresses to about half, so the union's gzip is
		// still well over max_message_size.
		topics := make([]string, 0, 1500)
		for range cap(topics) {
			topics = append(topics, fmt.Sprintf("%016x%016x", rng.Uint64(), rng.Uint64()))
		}
		sub := cl.Client(t, cl.On(0))
		subscribe(t, sub, topics...)
		union += len(strings.Join(topics, " ")) + 1
		last = append(last, topics[len(topics)-1])
		t.Cleanup(func() { _ = sub.Close() })
	}
	if union <= 2*maxMessageSize {
		t.Fatalf("topic union is %d bytes: too small to prove anything", union)
	}
	sub := cl.Client(t, cl.On(0))
	subscribe(t, sub, last...)
	pub := cl.Client(t, cl.On(1))
	for _, topic := range last {
		reach(t, pub, sub, topic, client.Reliable)
	}
	for i := range 2 {
		if n := cl.Server(i).Stats().Servers; n != 1 {
			t.Fatalf("server %d has %d server links, want 1", i, n)
		}
		if v := cl.Counter(t, i, "commserver_protocol_violations_total", nil); v != 0 {
			t.Fatalf("server %d counted %v protocol violations, want none", i, v)
		}
	}
}
