package commserver

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// TestEncodeAnnouncementParts: a set too large for one message goes in
// parts that each fit max_message_size, every one but the last marked more,
// whose topics together are the set; a small set stays one 2019 message.
func TestEncodeAnnouncementParts(t *testing.T) {
	const maxSize = 4096
	rng := rand.New(rand.NewPCG(1, 2))
	var topics []string
	for range 2000 {
		topics = append(topics, fmt.Sprintf("%016x", rng.Uint64()))
	}
	for _, tt := range []struct {
		name      string
		set       string
		wantParts bool
	}{
		{"empty", "", false},
		{"small", "a b c", false},
		{"compressible, one message", strings.TrimSpace(strings.Repeat("topic ", 2000)), false},
		{"random, parts", strings.Join(topics, " "), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			msgs, skipped, err := encodeAnnouncement(tt.set, maxSize)
			if err != nil || len(skipped) != 0 {
				t.Fatalf("encode: %v, skipped %d", err, len(skipped))
			}
			if got := len(msgs) > 1; got != tt.wantParts {
				t.Fatalf("%d messages for %d bytes, want parts=%v", len(msgs), len(tt.set), tt.wantParts)
			}
			var got []string
			for i, b := range msgs {
				if len(b) > maxSize {
					t.Fatalf("part %d is %d bytes, over %d", i, len(b), maxSize)
				}
				var m protocol.SubscriptionMessage
				if err := proto.Unmarshal(b, &m); err != nil {
					t.Fatal(err)
				}
				if m.More != (i < len(msgs)-1) {
					t.Fatalf("part %d of %d: more=%v", i, len(msgs), m.More)
				}
				part, err := decodeTopics(m.Format, m.Topics, maxSize*8)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, part...)
			}
			if strings.Join(got, " ") != strings.Join(strings.Fields(tt.set), " ") {
				t.Fatal("the parts' topics are not the set")
			}
		})
	}
}

// TestAnnouncementInParts: a server link's parts apply together when the
// last arrives, beyond a client's max_topics_size; a client cannot send
// parts, and a server's parts are bounded by max_server_topics_size.
func TestAnnouncementInParts(t *testing.T) {
	f := newRelayFixture(t, RoleServer, 1, 1)
	srv, cli := f.servers[0], f.clients[0]
	part := func(topics string, more bool) []byte {
		b, err := encodePart(topics, more)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	srv.subscribe(reliable, part("x y", true))
	if len(serversOf(f.s, "x")) != 0 {
		t.Fatal("a part applied before the last one")
	}
	srv.subscribe(reliable, part("z", false))
	for _, topic := range []string{"x", "y", "z"} {
		if len(serversOf(f.s, topic)) != 1 {
			t.Fatalf("topic %q not in force after the last part", topic)
		}
	}
	if len(serversOf(f.s, "t")) != 0 {
		t.Fatal("the new set did not replace the old one")
	}

	big := strings.TrimSpace(strings.Repeat("topic-of-thirty-two-bytes-long. ", 3*f.s.cfg.MaxTopicsSize/32))
	srv.subscribe(reliable, part(big, false))
	if v := srv.bad.Load(); v != 0 || len(serversOf(f.s, "topic-of-thirty-two-bytes-long.")) != 1 {
		t.Fatalf("a %d-byte server announcement: %d violations, want it applied", len(big), v)
	}

	cli.subscribe(reliable, part("a", true))
	if cli.bad.Load() != 1 {
		t.Fatal("a client's SUBSCRIPTION in parts was not a violation")
	}

	f.s.cfg.MaxServerTopicsSize = 8
	srv.subscribe(reliable, part("abcd", true))
	srv.subscribe(reliable, part("efgh", false))
	if srv.bad.Load() != 1 {
		t.Fatal("parts over max_server_topics_size together were not a violation")
	}
}

// serversOf is the server links subscribed to topic.
func serversOf(s *Server, topic string) []*peer {
	subs, _ := s.subs.Lookup([]byte(topic))
	return subs.Servers
}
