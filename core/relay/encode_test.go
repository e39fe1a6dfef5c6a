package relay

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// fields is one combination of the values a relayed message carries.
type fields struct {
	name     string
	from     uint64
	topic    string
	identity []byte
	role     protocol.Role
	body     []byte
}

// encodeCases covers zero values (omitted by proto3), one-byte and
// multi-byte varints and lengths, and non-ASCII topics.
var encodeCases = []fields{
	{name: "all empty"},
	{name: "typical", from: 42, topic: "chat.room1", identity: []byte("user-7"), role: protocol.Role_CLIENT, body: []byte("hello")},
	{name: "empty body", from: 1, topic: "t", identity: []byte("id"), role: protocol.Role_CLIENT},
	{name: "empty non-nil body", from: 1, topic: "t", body: []byte{}},
	{name: "empty topic", from: 1, body: []byte("b")},
	{name: "zero alias", topic: "t", body: []byte("b")},
	{name: "largest alias", from: math.MaxUint64, topic: "t", body: []byte("b")},
	{name: "alias needing two bytes", from: 300, topic: "t", body: []byte("b")},
	{name: "no identity, server role", from: 5, topic: "t", role: protocol.Role_COMMUNICATION_SERVER_HUB, body: []byte("b")},
	{name: "identity, unknown role", from: 5, topic: "t", identity: []byte{0, 1, 2}, body: []byte("b")},
	{name: "negative role", from: 5, topic: "t", role: protocol.Role(-1), body: []byte("b")},
	{name: "unicode topic", from: 9, topic: "sala.ñandú.日本", body: []byte("b")},
	{name: "long topic", from: 9, topic: strings.Repeat("t", 200), body: []byte("b")},
	{name: "64 KiB body", from: 9, topic: "big", body: bytes.Repeat([]byte{0xff}, 64<<10)},
}

// encoders pairs each Append function with its Size function and the
// generated message it must match.
var encoders = []struct {
	name   string
	append func(dst []byte, f fields) []byte
	size   func(f fields) int
	want   func(f fields) proto.Message
}{
	{
		"TopicFW",
		func(dst []byte, f fields) []byte { return AppendTopicFW(dst, f.from, f.topic, f.body) },
		func(f fields) int { return SizeTopicFW(f.from, f.topic, f.body) },
		func(f fields) proto.Message {
			return &protocol.TopicFWMessage{Type: protocol.MessageType_TOPIC_FW, FromAlias: f.from, Topic: f.topic, Body: f.body}
		},
	},
	{
		"Topic",
		func(dst []byte, f fields) []byte { return AppendTopic(dst, f.from, f.topic, f.body) },
		func(f fields) int { return SizeTopic(f.from, f.topic, f.body) },
		func(f fields) proto.Message {
			return &protocol.TopicMessage{Type: protocol.MessageType_TOPIC, FromAlias: f.from, Topic: f.topic, Body: f.body}
		},
	},
	{
		"TopicIdentityFW",
		func(dst []byte, f fields) []byte {
			return AppendTopicIdentityFW(dst, f.from, f.topic, f.identity, f.role, f.body)
		},
		func(f fields) int { return SizeTopicIdentityFW(f.from, f.topic, f.identity, f.role, f.body) },
		func(f fields) proto.Message {
			return &protocol.TopicIdentityFWMessage{Type: protocol.MessageType_TOPIC_IDENTITY_FW, FromAlias: f.from,
				Topic: f.topic, Identity: f.identity, Role: f.role, Body: f.body}
		},
	},
	{
		"TopicIdentity",
		func(dst []byte, f fields) []byte {
			return AppendTopicIdentity(dst, f.from, f.topic, f.identity, f.role, f.body)
		},
		func(f fields) int { return SizeTopicIdentity(f.from, f.topic, f.identity, f.role, f.body) },
		func(f fields) proto.Message {
			return &protocol.TopicIdentityMessage{Type: protocol.MessageType_TOPIC_IDENTITY, FromAlias: f.from,
				Topic: f.topic, Identity: f.identity, Role: f.role, Body: f.body}
		},
	},
}

func TestAppendIsByteIdenticalToProtoMarshal(t *testing.T) {
	for _, enc := range encoders {
		for _, f := range encodeCases {
			t.Run(enc.name+"/"+f.name, func(t *testing.T) {
				want, err := proto.Marshal(enc.want(f))
				if err != nil {
					t.Fatal(err)
				}
				got := enc.append(nil, f)
				if !bytes.Equal(got, want) {
					t.Fatalf("Append = %x\nproto.Marshal = %x", got, want)
				}
				if size := enc.size(f); size != len(want) {
					t.Fatalf("Size = %d, want %d", size, len(want))
				}
				// Appending keeps what dst held.
				prefix := []byte("prefix")
				if got := enc.append(prefix, f); !bytes.Equal(got[:len(prefix)], []byte("prefix")) || !bytes.Equal(got[len(prefix):], want) {
					t.Fatalf("Append(prefix) = %x", got)
				}
			})
		}
	}
}

func TestAppendAllocatesOnlyTheOutputBuffer(t *testing.T) {
	// Direct calls, as the relay makes them: an indirect call through a
	// func value can cost an allocation of its own under -race.
	from, topic, identity, role, body := uint64(42), "chat.room1", []byte("user-7"), protocol.Role_CLIENT, []byte("hello")
	room := make([]byte, 0, 1024)
	tests := []struct {
		name      string
		intoNil   func()
		intoRoomy func()
	}{
		{"TopicFW",
			func() { _ = AppendTopicFW(nil, from, topic, body) },
			func() { _ = AppendTopicFW(room[:0], from, topic, body) }},
		{"Topic",
			func() { _ = AppendTopic(nil, from, topic, body) },
			func() { _ = AppendTopic(room[:0], from, topic, body) }},
		{"TopicIdentityFW",
			func() { _ = AppendTopicIdentityFW(nil, from, topic, identity, role, body) },
			func() { _ = AppendTopicIdentityFW(room[:0], from, topic, identity, role, body) }},
		{"TopicIdentity",
			func() { _ = AppendTopicIdentity(nil, from, topic, identity, role, body) },
			func() { _ = AppendTopicIdentity(room[:0], from, topic, identity, role, body) }},
	}
	for _, tt := range tests {
		if n := testing.AllocsPerRun(100, tt.intoNil); n != 1 {
			t.Errorf("%s into nil: %v allocations, want 1", tt.name, n)
		}
		if n := testing.AllocsPerRun(100, tt.intoRoomy); n != 0 {
			t.Errorf("%s into a buffer with room: %v allocations, want 0", tt.name, n)
		}
	}
}
