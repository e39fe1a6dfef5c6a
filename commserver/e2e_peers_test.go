package commserver_test

import (
	"bytes"
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/commserver"
	"github.com/webrtc-broker/webrtc-broker/internal/clienthooks"
	"github.com/webrtc-broker/webrtc-broker/internal/testwait"
	"github.com/webrtc-broker/webrtc-broker/protocol"
	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestE2EDataBeforeAuth: a peer whose first message is not AUTH is refused
// and closed, what it sent is not relayed, and the other peers carry on.
func TestE2EDataBeforeAuth(t *testing.T) {
	cl := cluster.Start(t, cluster.Options{Servers: 1})
	a, b := cl.Client(t), cl.Client(t)
	subscribe(t, b, "guarded")

	cases := []struct {
		name     string
		reliable bool
		msg      []byte
	}{
		{"a TOPIC instead of AUTH", true,
			mustMarshal(t, &protocol.TopicMessage{Type: protocol.MessageType_TOPIC, Topic: "guarded", Body: []byte("sneaky")})},
		{"a PING instead of AUTH", true,
			mustMarshal(t, &protocol.PingMessage{Type: protocol.MessageType_PING, Time: 1})},
		{"garbage instead of AUTH", true, []byte{0xde, 0xad, 0xbe, 0xef}},
		{"AUTH with no role", true,
			mustMarshal(t, &protocol.AuthMessage{Type: protocol.MessageType_AUTH})},
		// Even under allow-all: the coordinator stamped CLIENT on its CONNECT.
		{"a client's AUTH claiming to be a server", true,
			mustMarshal(t, &protocol.AuthMessage{Type: protocol.MessageType_AUTH, Role: protocol.Role_COMMUNICATION_SERVER})},
		{"a TOPIC on unreliable and no AUTH ever", false,
			mustMarshal(t, &protocol.TopicMessage{Type: protocol.MessageType_TOPIC, Topic: "guarded", Body: []byte("sneaky")})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bad := cl.Client(t, func(c *client.Config) { clienthooks.SkipAuth(c) })
			if err := clienthooks.SendRaw(bad, tc.reliable, tc.msg); err != nil {
				t.Fatal(err)
			}
			err := waitDown(t, bad, "sending data before AUTH")
			if !errors.Is(err, client.ErrAuthFailed) {
				t.Errorf("refused client's error = %v, want the server's ERROR_AUTH_FAILED (client.ErrAuthFailed)", err)
			}
			// Had "sneaky" been relayed, it would reach b before this.
			publish(t, a, "guarded", tc.name, client.Reliable)
			next(t, b, "guarded", tc.name)
		})
	}
	if n := cl.Server(0).Stats().Clients; n != 2 {
		t.Fatalf("server counts %d clients, want 2: a refused peer never counts", n)
	}
}

// TestE2EMaxPeers: max_peers=1 refuses a second client with SERVER_FULL,
// never a server link, and frees the slot when the first client leaves.
func TestE2EMaxPeers(t *testing.T) {
	cl := cluster.Start(t, cluster.Options{
		Servers: 2, // meshed although each takes a single client
		Server:  func(_ int, cfg *commserver.Config) { cfg.MaxPeers = 1 },
	})
	first := cl.Client(t, cl.On(0))
	if _, err := cl.Dial(t, cl.On(0)); !errors.Is(err, client.ErrServerFull) {
		t.Fatalf("second client on a full server: %v, want ErrServerFull", err)
	}
	ping(t, first, client.Reliable) // the refusal did not disturb the first client

	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, eventTimeout, "the first client's slot to be freed", func() bool {
		return cl.Server(0).Stats().ClientSlots == 0
	})
	ping(t, cl.Client(t, cl.On(0)), client.Reliable)
}

// TestE2EOversizedMessage: a message over max_message_size is dropped and
// answered with ERROR_PROTOCOL_VIOLATION; the sender's next normal message is
// relayed; a sender that keeps doing it is closed, and nobody else is.
func TestE2EOversizedMessage(t *testing.T) {
	const limit = 1024
	cl := cluster.Start(t, cluster.Options{
		Servers: 1,
		Server:  func(_ int, cfg *commserver.Config) { cfg.MaxMessageSize = limit },
	})
	a, b := cl.Client(t), cl.Client(t)
	subscribe(t, a, "big")
	subscribe(t, b, "big")
	huge := bytes.Repeat([]byte("x"), 2*limit)

	if err := a.Publish("big", huge, client.Reliable); err != nil {
		t.Fatal(err)
	}
	publish(t, a, "big", "normal", client.Reliable)
	// The huge message would have come first.
	next(t, b, "big", "normal")
	e := cluster.ReceiveError(t, a, eventTimeout, func(*client.ServerError) bool { return true })
	if e.Code != protocol.ErrorCode_ERROR_PROTOCOL_VIOLATION {
		t.Fatalf("error %s %q, want ERROR_PROTOCOL_VIOLATION", e.Code, e.Reason)
	}

	// A repeat offender is closed (commserver closes at 10 violations).
	for i := 0; i < 20; i++ {
		ch := client.Unreliable
		if i%2 == 0 {
			ch = client.Reliable
		}
		if err := a.Publish("big", huge, ch); err != nil {
			break // closed already
		}
	}
	waitDown(t, a, "20 oversized messages")

	c := cl.Client(t)
	publish(t, c, "big", "still serving", client.Reliable)
	next(t, b, "big", "still serving")
}
