package client

import (
	"bytes"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/core/relay"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

func TestAuthListsFeatureBatchUnlessDisabled(t *testing.T) {
	for _, tc := range []struct {
		disabled, noReconnect bool
		want                  []protocol.Feature // nil: the 2019 AUTH, byte for byte
	}{
		// A client that reconnects also moves off a draining server (drain.go).
		{false, false, []protocol.Feature{protocol.Feature_FEATURE_BATCH, protocol.Feature_FEATURE_DRAIN}},
		{false, true, []protocol.Feature{protocol.Feature_FEATURE_BATCH}},
		{true, false, nil},
		{true, true, nil},
	} {
		f := startFake(t, fakeAccept)
		if _, err := dialFake(t, f, func(cfg *Config) {
			cfg.AuthBody = []byte("creds")
			cfg.DisableBatching = tc.disabled
			cfg.Reconnect.Disabled = tc.noReconnect
		}); err != nil {
			t.Fatal(err)
		}
		got := readMessage(t, receive(t, f.reliable, "reliable channel"))
		if tc.want == nil {
			// The 2019 AUTH, byte for byte.
			want, _ := proto.Marshal(&protocol.AuthMessage{Type: protocol.MessageType_AUTH, Role: protocol.Role_CLIENT, Body: []byte("creds")})
			if !bytes.Equal(got, want) {
				t.Fatalf("DisableBatching (reconnection disabled %v): AUTH = %x, want the 2019 AUTH %x", tc.noReconnect, got, want)
			}
			continue
		}
		var auth protocol.AuthMessage
		if err := proto.Unmarshal(got, &auth); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(auth.Features, tc.want) || string(auth.Body) != "creds" {
			t.Fatalf("AUTH %v (reconnection disabled %v), want features %v listed", &auth, tc.noReconnect, tc.want)
		}
	}
}

// TestBatchFromServerIsUnpacked: a BATCH's messages come out of Messages(),
// Errors() and the PING waiters exactly as if each had come alone; a
// malformed batch is dropped from the bad message on, and the link stays up.
func TestBatchFromServerIsUnpacked(t *testing.T) {
	f := startFake(t, fakeAccept)
	c, err := dialFake(t, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	rel := receive(t, f.reliable, "reliable channel")
	unrel := receive(t, f.unreliable, "unreliable channel")
	readMessage(t, rel) // AUTH

	fw := func(body string) []byte { return relay.AppendTopicFW(nil, 99, "chat", []byte(body)) }
	errMsg, _ := proto.Marshal(&protocol.ErrorMessage{Type: protocol.MessageType_ERROR,
		Code: protocol.ErrorCode_ERROR_PUBLISH_DROPPED, Topic: "chat", Reason: "policy"})
	identity := relay.AppendTopicIdentityFW(nil, 98, "chat", []byte("alice"), protocol.Role_CLIENT, []byte("id"))
	if _, err := unrel.Write(relay.AppendBatch(nil, fw("a"), errMsg, identity, fw("b"))); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"a", "id", "b"} {
		m := receive(t, c.Messages(), "message "+want)
		if string(m.Body) != want || m.Topic != "chat" || m.Channel != Unreliable {
			t.Fatalf("received %+v, want %q on chat over unreliable", m, want)
		}
		if want == "id" && (string(m.Identity) != "alice" || m.Role != protocol.Role_CLIENT || m.FromAlias != 98) {
			t.Fatalf("identity message %+v", m)
		}
	}
	if e := receive(t, c.Errors(), "the batched ERROR"); e.Code != protocol.ErrorCode_ERROR_PUBLISH_DROPPED || e.Topic != "chat" {
		t.Fatalf("error %+v", e)
	}

	// Malformed: a message that does not decode, then one that would.
	if _, err := rel.Write(relay.AppendBatch(nil, fw("before"), []byte{0x08}, fw("after the bad one"))); err != nil {
		t.Fatal(err)
	}
	// Nested, and empty.
	for _, b := range [][]byte{relay.AppendBatch(nil, relay.AppendBatch(nil, fw("nested"))), relay.AppendBatchHeader(nil)} {
		if _, err := rel.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := rel.Write(fw("alone")); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"before", "alone"} {
		if m := receive(t, c.Messages(), want); string(m.Body) != want {
			t.Fatalf("received %q, want %q: what follows a bad message in a batch is dropped", m.Body, want)
		}
	}
	if c.Err() != nil {
		t.Fatalf("the client went down: %v", c.Err())
	}
}

// TestDisabledBatchingIgnoresBatch: a client acting as a 2019 one ignores a
// BATCH (it never asked for one), as a 2019 client ignores an unknown type.
func TestDisabledBatchingIgnoresBatch(t *testing.T) {
	f := startFake(t, fakeAccept)
	c, err := dialFake(t, f, func(cfg *Config) { cfg.DisableBatching = true })
	if err != nil {
		t.Fatal(err)
	}
	rel := receive(t, f.reliable, "reliable channel")
	readMessage(t, rel)
	for _, b := range [][]byte{
		relay.AppendBatch(nil, relay.AppendTopicFW(nil, 9, "chat", []byte("batched"))),
		relay.AppendTopicFW(nil, 9, "chat", []byte("alone")),
	} {
		if _, err := rel.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if m := receive(t, c.Messages(), "the plain message"); string(m.Body) != "alone" {
		t.Fatalf("received %q first, want the plain message: a BATCH was unpacked with batching disabled", m.Body)
	}
}

// TestUnbatchDoesNotAllocate: a batch's messages cost what they cost alone,
// which for a TOPIC_FW of a known topic is nothing.
func TestUnbatchDoesNotAllocate(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 100)
	b := relay.AppendBatch(nil, relay.AppendTopicFW(nil, 1, "game.state", body), relay.AppendTopicFW(nil, 2, "game.state", body),
		relay.AppendTopicIdentityFW(nil, 3, "game.state", []byte("id"), protocol.Role_CLIENT, body))
	topics := topicCache{}
	intern := topics.intern
	n := 0
	count := func(frame) { n++ }
	if allocs := testing.AllocsPerRun(100, func() {
		if err := unbatch(b, intern, count); err != nil {
			t.Fatal(err)
		}
	}); allocs != 0 {
		t.Fatalf("unpacking a batch of three allocates %v times", allocs)
	}
	if n != 3*101 {
		t.Fatalf("delivered %d frames, want %d", n, 3*101)
	}
}
