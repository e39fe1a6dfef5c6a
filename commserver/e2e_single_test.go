package commserver_test

import (
	"fmt"
	"strconv"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/internal/clienthooks"
	"github.com/webrtc-broker/webrtc-broker/protocol"
	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

// TestE2ESingleServer pins the relay rules on one server. The subtests share
// the cluster; each uses its own clients and topics, so none sees another's
// traffic.
func TestE2ESingleServer(t *testing.T) {
	cl := cluster.Start(t, cluster.Options{Servers: 1})

	t.Run("reliable", func(t *testing.T) {
		a, b := cl.Client(t), cl.Client(t)
		subscribe(t, b, "rel")
		publish(t, a, "rel", "hello", client.Reliable)
		m := receive(t, b, "rel", "hello")
		expectFrom(t, m, a)
		if isIdentityMessage(m) || m.Channel != client.Reliable {
			t.Fatalf("got role %s on %s, want a plain message on the reliable channel", m.Role, m.Channel)
		}
	})

	t.Run("unreliable", func(t *testing.T) {
		a, b := cl.Client(t), cl.Client(t)
		subscribe(t, b, "unrel")
		m := reach(t, a, b, "unrel", client.Unreliable)
		expectFrom(t, m, a)
		if isIdentityMessage(m) || m.Channel != client.Unreliable {
			t.Fatalf("got role %s on %s, want a plain message on the unreliable channel", m.Role, m.Channel)
		}
	})

	t.Run("identity", func(t *testing.T) {
		a, b := cl.Client(t), cl.Client(t)
		subscribe(t, b, "id")
		if err := a.PublishIdentity("id", []byte("who am i"), client.Reliable); err != nil {
			t.Fatal(err)
		}
		m := receive(t, b, "id", "who am i")
		expectFrom(t, m, a)
		// The built-in allow-all authenticates every client with an empty
		// identity and the role it claimed.
		if !isIdentityMessage(m) || m.Role != protocol.Role_CLIENT || len(m.Identity) != 0 {
			t.Fatalf("got role %s identity %q, want an identity message, CLIENT, empty identity", m.Role, m.Identity)
		}
	})

	t.Run("ping is echoed on both channels", func(t *testing.T) {
		a := cl.Client(t)
		ping(t, a, client.Reliable)
		ping(t, a, client.Unreliable)
	})

	t.Run("a new set without the topic stops delivery", func(t *testing.T) {
		a, b := cl.Client(t), cl.Client(t)
		subscribe(t, b, "unsub", "unsub.marker")
		publish(t, a, "unsub", "before", client.Reliable)
		next(t, b, "unsub", "before")

		subscribe(t, b, "unsub.marker")
		publish(t, a, "unsub", "after", client.Reliable)
		publish(t, a, "unsub.marker", "marker", client.Reliable)
		// Same sender, same reliable channel: "after" would come first.
		next(t, b, "unsub.marker", "marker")
	})

	t.Run("a spoofed from_alias is replaced by the real one", func(t *testing.T) {
		a, b := cl.Client(t), cl.Client(t)
		subscribe(t, b, "spoof")
		for _, typ := range []protocol.MessageType{protocol.MessageType_TOPIC, protocol.MessageType_TOPIC_IDENTITY} {
			var msg proto.Message = &protocol.TopicMessage{Type: typ, FromAlias: b.Alias(), Topic: "spoof", Body: []byte(typ.String())}
			if typ == protocol.MessageType_TOPIC_IDENTITY {
				msg = &protocol.TopicIdentityMessage{Type: typ, FromAlias: b.Alias(), Topic: "spoof",
					Identity: []byte("admin"), Role: protocol.Role_COMMUNICATION_SERVER, Body: []byte(typ.String())}
			}
			raw, err := proto.Marshal(msg)
			if err != nil {
				t.Fatal(err)
			}
			if err := clienthooks.SendRaw(a, true, raw); err != nil {
				t.Fatal(err)
			}
			m := receive(t, b, "spoof", typ.String())
			expectFrom(t, m, a)
			if typ == protocol.MessageType_TOPIC_IDENTITY && (m.Role != protocol.Role_CLIENT || len(m.Identity) != 0) {
				t.Fatalf("spoofed identity %q role %s went through, want the authenticated ones", m.Identity, m.Role)
			}
		}
	})

	t.Run("2000 reliable messages arrive complete and in order", func(t *testing.T) {
		a, b := cl.Client(t), cl.Client(t)
		subscribe(t, b, "bulk")
		const n = 2000
		published := make(chan error, 1)
		go func() {
			for i := range n {
				if err := a.Publish("bulk", []byte(strconv.Itoa(i)), client.Reliable); err != nil {
					published <- fmt.Errorf("publish %d: %w", i, err)
					return
				}
			}
			published <- nil
		}()
		for i := range n {
			next(t, b, "bulk", strconv.Itoa(i))
		}
		if err := <-published; err != nil {
			t.Fatal(err)
		}
	})

	t.Run("nobody gets their own message back", func(t *testing.T) {
		a, b := cl.Client(t), cl.Client(t)
		subscribe(t, a, "own")
		subscribe(t, b, "own")
		publish(t, a, "own", "from a", client.Reliable)
		receive(t, b, "own", "from a")
		// b publishes after the server relayed "from a": had a got its own
		// message back, it would come before this one.
		publish(t, b, "own", "from b", client.Reliable)
		next(t, a, "own", "from b")
	})

	t.Run("gzip subscription", func(t *testing.T) {
		// Any set over one byte goes compressed.
		a, b := cl.Client(t), cl.Client(t, func(c *client.Config) { c.GzipAbove = 1 })
		topics := make([]string, 50)
		for i := range topics {
			topics[i] = fmt.Sprintf("gz.%d", i)
		}
		if err := b.Subscribe(eventCtx(t), topics...); err != nil {
			t.Fatal(err)
		}
		publish(t, a, "gz.0", "first", client.Reliable)
		publish(t, a, "gz.49", "last", client.Reliable)
		next(t, b, "gz.0", "first")
		next(t, b, "gz.49", "last")
	})
}
