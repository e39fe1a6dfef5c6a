package relay

import (
	"bytes"
	"math"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// positions covers the origin (an empty embedded message that still says
// "has a position"), negative zero (encoded, unlike 0) and ordinary values.
var positions = []Position{
	{}, {X: float32(math.Copysign(0, -1))}, {X: 1.5, Y: -2.25, Z: 1e6}, {Y: 64},
}

func TestAtEncodersMatchProtoMarshal(t *testing.T) {
	for _, c := range encodeCases {
		for _, pos := range positions {
			pp := &protocol.Position{X: pos.X, Y: pos.Y, Z: pos.Z}
			tests := []struct {
				name string
				got  []byte
				size int
				want proto.Message
			}{
				{"TOPIC", AppendTopicAt(nil, c.from, c.topic, c.body, pos), SizeTopicAt(c.from, c.topic, c.body, pos),
					&protocol.TopicMessage{Type: protocol.MessageType_TOPIC, FromAlias: c.from, Topic: c.topic, Body: c.body, Position: pp}},
				{"TOPIC_FW", AppendTopicFWAt(nil, c.from, c.topic, c.body, pos), SizeTopicFWAt(c.from, c.topic, c.body, pos),
					&protocol.TopicFWMessage{Type: protocol.MessageType_TOPIC_FW, FromAlias: c.from, Topic: c.topic, Body: c.body, Position: pp}},
				{"TOPIC_IDENTITY", AppendTopicIdentityAt(nil, c.from, c.topic, c.identity, c.role, c.body, pos),
					SizeTopicIdentityAt(c.from, c.topic, c.identity, c.role, c.body, pos),
					&protocol.TopicIdentityMessage{Type: protocol.MessageType_TOPIC_IDENTITY, FromAlias: c.from, Topic: c.topic,
						Identity: c.identity, Role: c.role, Body: c.body, Position: pp}},
				{"TOPIC_IDENTITY_FW", AppendTopicIdentityFWAt(nil, c.from, c.topic, c.identity, c.role, c.body, pos),
					SizeTopicIdentityFWAt(c.from, c.topic, c.identity, c.role, c.body, pos),
					&protocol.TopicIdentityFWMessage{Type: protocol.MessageType_TOPIC_IDENTITY_FW, FromAlias: c.from, Topic: c.topic,
						Identity: c.identity, Role: c.role, Body: c.body, Position: pp}},
			}
			for _, tt := range tests {
				want := mustMarshal(t, tt.want)
				if !bytes.Equal(tt.got, want) {
					t.Fatalf("%s %s at %+v:\n got %x\nwant %x", c.name, tt.name, pos, tt.got, want)
				}
				if tt.size != len(want) {
					t.Fatalf("%s %s at %+v: size %d, encoded %d", c.name, tt.name, pos, tt.size, len(want))
				}
				m, err := ParseTopic(tt.got)
				if err != nil || !m.HasPosition || !equalPosition(m.Position, pos) {
					t.Fatalf("%s %s at %+v: ParseTopic = %+v, %v", c.name, tt.name, pos, m, err)
				}
				checkAgainstProto(t, tt.got)
			}
		}
	}
}

func TestParseTopicMergesPositionsAsProtobufDoes(t *testing.T) {
	typeTopic := varintField(1, uint64(protocol.MessageType_TOPIC))
	x := appendPosition(nil, topicPosition, Position{X: 1, Y: 2})
	y := appendPosition(nil, topicPosition, Position{Y: 5, Z: 3})
	// A float field of the wrong wire type is unknown, so skipped.
	bad := bytesField(topicPosition, string(varintField(positionX, 9)))
	tests := []struct {
		name string
		b    []byte
		want Position
		has  bool
	}{
		{"no position", cat(typeTopic, bytesField(3, "t")), Position{}, false},
		{"two occurrences merge field by field", cat(typeTopic, x, y), Position{X: 1, Y: 5, Z: 3}, true},
		{"a varint x is skipped", cat(typeTopic, bad), Position{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseTopic(tt.b)
			if err != nil {
				t.Fatal(err)
			}
			if m.HasPosition != tt.has || !equalPosition(m.Position, tt.want) {
				t.Fatalf("position %+v (has %v), want %+v (has %v)", m.Position, m.HasPosition, tt.want, tt.has)
			}
			checkAgainstProto(t, tt.b)
		})
	}
}

func TestParseTopicWithPositionDoesNotAllocate(t *testing.T) {
	b := AppendTopicAt(nil, 7, "world.a", []byte("state"), Position{X: 3, Y: 4})
	n := testing.AllocsPerRun(100, func() {
		if _, err := ParseTopic(b); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Fatalf("ParseTopic allocates %v times per call", n)
	}
}
