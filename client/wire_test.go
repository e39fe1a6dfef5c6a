package client

import (
	"bytes"
	"math"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/core/relay"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

func TestDecodeServerMessages(t *testing.T) {
	cases := []struct {
		name string
		in   proto.Message
		want frame
	}{
		{"topic fw",
			&protocol.TopicFWMessage{Type: protocol.MessageType_TOPIC_FW, FromAlias: 42, Body: []byte("b"), Topic: "t"},
			frame{Type: protocol.MessageType_TOPIC_FW, FromAlias: 42, Topic: "t", Body: []byte("b")}},
		{"topic identity fw",
			&protocol.TopicIdentityFWMessage{Type: protocol.MessageType_TOPIC_IDENTITY_FW, FromAlias: 7,
				Identity: []byte("alice"), Role: protocol.Role_CLIENT, Body: []byte("b"), Topic: "t"},
			frame{Type: protocol.MessageType_TOPIC_IDENTITY_FW, FromAlias: 7, Topic: "t", Body: []byte("b"),
				Identity: []byte("alice"), Role: protocol.Role_CLIENT}},
		{"topic",
			&protocol.TopicMessage{Type: protocol.MessageType_TOPIC, FromAlias: 3, Topic: "t", Body: []byte("b")},
			frame{Type: protocol.MessageType_TOPIC, FromAlias: 3, Topic: "t", Body: []byte("b")}},
		{"topic identity",
			&protocol.TopicIdentityMessage{Type: protocol.MessageType_TOPIC_IDENTITY, FromAlias: 3, Topic: "t",
				Identity: []byte("i"), Role: protocol.Role_COMMUNICATION_SERVER, Body: []byte("b")},
			frame{Type: protocol.MessageType_TOPIC_IDENTITY, FromAlias: 3, Topic: "t", Body: []byte("b"),
				Identity: []byte("i"), Role: protocol.Role_COMMUNICATION_SERVER}},
		{"error",
			&protocol.ErrorMessage{Type: protocol.MessageType_ERROR, Code: protocol.ErrorCode_ERROR_PUBLISH_DROPPED,
				Topic: "t", Reason: "rate limited"},
			frame{Type: protocol.MessageType_ERROR, ErrorCode: protocol.ErrorCode_ERROR_PUBLISH_DROPPED,
				Topic: "t", Reason: "rate limited"}},
		{"ping",
			&protocol.PingMessage{Type: protocol.MessageType_PING, Time: 12.5},
			frame{Type: protocol.MessageType_PING, pingTime: 12.5}},
		{"unknown type keeps only the type",
			&protocol.TopicMessage{Type: 99, FromAlias: 3, Topic: "t"},
			frame{Type: 99}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := proto.Marshal(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			var got frame
			if err := decode(b, &got, allocTopic); err != nil {
				t.Fatal(err)
			}
			if !equalFrame(got, tc.want) {
				t.Fatalf("decoded %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestDecodeRejectsTruncatedMessages(t *testing.T) {
	full, err := proto.Marshal(&protocol.TopicFWMessage{Type: protocol.MessageType_TOPIC_FW, FromAlias: 300, Body: []byte("body"), Topic: "topic"})
	if err != nil {
		t.Fatal(err)
	}
	// Cutting inside a field must fail; cutting between fields is a valid,
	// shorter message, so count only that some cuts fail and none panics.
	failed := 0
	for n := 1; n < len(full); n++ {
		var m frame
		if decode(full[:n], &m, allocTopic) != nil {
			failed++
		}
	}
	if failed == 0 {
		t.Fatal("no truncation of a TOPIC_FW was detected")
	}
	var m frame
	if err := decode([]byte{0xff, 0xff, 0xff}, &m, allocTopic); err == nil {
		t.Fatal("garbage decoded without error")
	}
}

func TestHotPathsDoNotAllocate(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 200)
	buf := make([]byte, 0, 512)
	if n := testing.AllocsPerRun(100, func() {
		buf = relay.AppendTopic(buf[:0], 0, "game.state", body)
	}); n != 0 {
		t.Errorf("encoding a publish allocates %v times", n)
	}

	in, err := proto.Marshal(&protocol.TopicFWMessage{Type: protocol.MessageType_TOPIC_FW, FromAlias: 1, Body: body, Topic: "game.state"})
	if err != nil {
		t.Fatal(err)
	}
	topics := topicCache{}
	intern := topics.intern
	if n := testing.AllocsPerRun(100, func() {
		var m frame
		if err := decode(in, &m, intern); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("decoding a TOPIC_FW of a known topic allocates %v times", n)
	}
}

func TestTopicCacheIsBounded(t *testing.T) {
	tc := topicCache{}
	for i := 0; i < 2*maxCachedTopics; i++ {
		b := []byte{byte(i), byte(i >> 8), 'x'}
		if got := tc.intern(b); got != string(b) {
			t.Fatalf("intern(%q) = %q", b, got)
		}
	}
	if len(tc) != maxCachedTopics {
		t.Fatalf("cache holds %d topics, want the cap %d", len(tc), maxCachedTopics)
	}
}

func TestCloneOwnsItsBytes(t *testing.T) {
	readBuf := []byte("bodyident")
	m := Message{Body: readBuf[:4], Identity: readBuf[4:]}
	c := m.clone()
	copy(readBuf, "XXXXXXXXX")
	if string(c.Body) != "body" || string(c.Identity) != "ident" {
		t.Fatalf("clone shares the read buffer: body %q identity %q", c.Body, c.Identity)
	}
	c.Body = append(c.Body, '!')
	if string(c.Identity) != "ident" {
		t.Fatalf("appending to Body overwrote Identity: %q", c.Identity)
	}
}

func equalFrame(a, b frame) bool {
	return a.Type == b.Type && a.FromAlias == b.FromAlias && a.Topic == b.Topic &&
		bytes.Equal(a.Body, b.Body) && bytes.Equal(a.Identity, b.Identity) && a.Role == b.Role &&
		a.ErrorCode == b.ErrorCode && a.Reason == b.Reason &&
		math.Float64bits(a.pingTime) == math.Float64bits(b.pingTime)
}
