package relay

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// TestAppendStreamMatchesMarshal: a relayed message with its stream position
// is byte-identical to proto.Marshal of the generated message, and
// ParseStream reads the position back.
func TestAppendStreamMatchesMarshal(t *testing.T) {
	for _, pos := range [][2]uint64{{1, 1}, {0xfeedface12345678, 1 << 40}, {5, 0}} {
		got := AppendStream(AppendTopicFW(nil, 42, "chat.a", []byte("hi")), protocol.MessageType_TOPIC_FW, pos[0], pos[1])
		want, _ := proto.Marshal(&protocol.TopicFWMessage{Type: protocol.MessageType_TOPIC_FW, FromAlias: 42, Body: []byte("hi"),
			Topic: "chat.a", Stream: &protocol.StreamPosition{Epoch: pos[0], Offset: pos[1]}})
		if !bytes.Equal(got, want) {
			t.Fatalf("TOPIC_FW %v:\n got %x\nwant %x", pos, got, want)
		}
		if len(got)-SizeTopicFW(42, "chat.a", []byte("hi")) != SizeStream(pos[0], pos[1]) {
			t.Fatalf("SizeStream %v wrong", pos)
		}
		if e, o, ok := ParseStream(protocol.MessageType_TOPIC_FW, got); !ok || e != pos[0] || o != pos[1] {
			t.Fatalf("ParseStream = %d %d %v, want %v", e, o, ok, pos)
		}
		got = AppendStream(AppendTopicIdentityFW(nil, 42, "chat.a", []byte("id"), protocol.Role_CLIENT, []byte("hi")),
			protocol.MessageType_TOPIC_IDENTITY_FW, pos[0], pos[1])
		want, _ = proto.Marshal(&protocol.TopicIdentityFWMessage{Type: protocol.MessageType_TOPIC_IDENTITY_FW, FromAlias: 42,
			Identity: []byte("id"), Role: protocol.Role_CLIENT, Body: []byte("hi"), Topic: "chat.a",
			Stream: &protocol.StreamPosition{Epoch: pos[0], Offset: pos[1]}})
		if !bytes.Equal(got, want) {
			t.Fatalf("TOPIC_IDENTITY_FW %v:\n got %x\nwant %x", pos, got, want)
		}
		if e, o, ok := ParseStream(protocol.MessageType_TOPIC_IDENTITY_FW, got); !ok || e != pos[0] || o != pos[1] {
			t.Fatalf("ParseStream identity = %d %d %v, want %v", e, o, ok, pos)
		}
	}
	if _, _, ok := ParseStream(protocol.MessageType_TOPIC_FW, AppendTopicFW(nil, 1, "t", nil)); ok {
		t.Fatal("a message without a stream has one")
	}
}

// FuzzParseStream: ParseStream agrees with proto.Unmarshal on every input
// that unmarshals.
func FuzzParseStream(f *testing.F) {
	f.Add(AppendStream(AppendTopicFW(nil, 42, "chat.a", []byte("hi")), protocol.MessageType_TOPIC_FW, 3, 9), false)
	f.Add(AppendStream(AppendTopicIdentityFW(nil, 1, "c", nil, 1, nil), protocol.MessageType_TOPIC_IDENTITY_FW, 3, 9), true)
	f.Fuzz(func(t *testing.T, b []byte, identity bool) {
		typ := protocol.MessageType_TOPIC_FW
		var m interface {
			proto.Message
			GetStream() *protocol.StreamPosition
		} = &protocol.TopicFWMessage{}
		if identity {
			typ = protocol.MessageType_TOPIC_IDENTITY_FW
			m = &protocol.TopicIdentityFWMessage{}
		}
		if proto.Unmarshal(b, m) != nil {
			return
		}
		e, o, ok := ParseStream(typ, b)
		s := m.GetStream()
		if ok != (s != nil) || e != s.GetEpoch() || o != s.GetOffset() {
			t.Fatalf("ParseStream = %d %d %v; proto.Unmarshal has %v", e, o, ok, s)
		}
	})
}
