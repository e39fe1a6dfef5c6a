package relay

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/protocol"
)

func TestControlEncodersAreByteIdenticalToProtoMarshal(t *testing.T) {
	cases := []struct {
		name string
		got  []byte
		want proto.Message
	}{
		{"subscription", AppendSubscription(nil, protocol.Format_PLAIN, []byte("a b")),
			&protocol.SubscriptionMessage{Type: protocol.MessageType_SUBSCRIPTION, Format: protocol.Format_PLAIN, Topics: []byte("a b")}},
		{"empty subscription", AppendSubscription(nil, protocol.Format_GZIP, nil),
			&protocol.SubscriptionMessage{Type: protocol.MessageType_SUBSCRIPTION, Format: protocol.Format_GZIP}},
		{"subscription without a format", AppendSubscription(nil, protocol.Format_UNKNOWN_FORMAT, []byte("a")),
			&protocol.SubscriptionMessage{Type: protocol.MessageType_SUBSCRIPTION, Topics: []byte("a")}},
		{"auth", AppendAuth(nil, protocol.Role_CLIENT, []byte("token")),
			&protocol.AuthMessage{Type: protocol.MessageType_AUTH, Role: protocol.Role_CLIENT, Body: []byte("token")}},
		{"auth with features", AppendFeatures(AppendAuth(nil, protocol.Role_CLIENT, []byte("token")),
			protocol.Feature_FEATURE_DRAIN, protocol.Feature_FEATURE_BATCH),
			&protocol.AuthMessage{Type: protocol.MessageType_AUTH, Role: protocol.Role_CLIENT, Body: []byte("token"),
				Features: []protocol.Feature{protocol.Feature_FEATURE_DRAIN, protocol.Feature_FEATURE_BATCH}}},
		{"auth with a negative role", AppendAuth(nil, protocol.Role(-1), nil),
			&protocol.AuthMessage{Type: protocol.MessageType_AUTH, Role: protocol.Role(-1)}},
		{"ping", AppendPing(nil, 1712345678901.25),
			&protocol.PingMessage{Type: protocol.MessageType_PING, Time: 1712345678901.25}},
		{"ping at zero", AppendPing(nil, 0), &protocol.PingMessage{Type: protocol.MessageType_PING}},
		{"ping at minus zero", AppendPing(nil, math.Copysign(0, -1)),
			&protocol.PingMessage{Type: protocol.MessageType_PING, Time: math.Copysign(0, -1)}},
		// What a client publishes: no alias, identity or role (the server
		// stamps those).
		{"client topic", AppendTopic(nil, 0, "chat", []byte("hi")),
			&protocol.TopicMessage{Type: protocol.MessageType_TOPIC, Topic: "chat", Body: []byte("hi")}},
		{"client topic identity", AppendTopicIdentity(nil, 0, "chat", nil, 0, []byte("hi")),
			&protocol.TopicIdentityMessage{Type: protocol.MessageType_TOPIC_IDENTITY, Topic: "chat", Body: []byte("hi")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want, err := proto.MarshalOptions{Deterministic: true}.Marshal(tc.want)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(tc.got, want) {
				t.Fatalf("encoded %x, proto.Marshal encodes %x", tc.got, want)
			}
		})
	}
}

func TestParsePingAndErrorReadWhatProtoMarshalWrites(t *testing.T) {
	ping, err := proto.Marshal(&protocol.PingMessage{Type: protocol.MessageType_PING, Time: 12.5})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ParsePing(ping); err != nil || got != 12.5 {
		t.Fatalf("ParsePing = %v, %v; want 12.5", got, err)
	}
	if got, err := ParsePing(AppendPing(nil, 0)); err != nil || got != 0 {
		t.Fatalf("ParsePing of a zero ping = %v, %v", got, err)
	}

	msg, err := proto.Marshal(&protocol.ErrorMessage{Type: protocol.MessageType_ERROR,
		Code: protocol.ErrorCode_ERROR_PUBLISH_DROPPED, Topic: "t", Reason: "rate limited"})
	if err != nil {
		t.Fatal(err)
	}
	e, err := ParseError(msg)
	if err != nil || e.Code != protocol.ErrorCode_ERROR_PUBLISH_DROPPED || string(e.Topic) != "t" || string(e.Reason) != "rate limited" {
		t.Fatalf("ParseError = %+v, %v", e, err)
	}
}

func TestParsePingAndErrorRejectBadInput(t *testing.T) {
	topic := AppendTopicFW(nil, 1, "t", []byte("b"))
	if _, err := ParsePing(topic); !errors.Is(err, ErrWrongType) {
		t.Errorf("ParsePing of a TOPIC_FW: %v, want %v", err, ErrWrongType)
	}
	if _, err := ParseError(topic); !errors.Is(err, ErrWrongType) {
		t.Errorf("ParseError of a TOPIC_FW: %v, want %v", err, ErrWrongType)
	}
	ping := AppendPing(nil, 12.5)
	if _, err := ParsePing(ping[:len(ping)-1]); !errors.Is(err, ErrMalformed) {
		t.Errorf("ParsePing of a truncated PING: %v, want %v", err, ErrMalformed)
	}
	badReason, err := proto.Marshal(&protocol.ErrorMessage{Type: protocol.MessageType_ERROR, Reason: "ok"})
	if err != nil {
		t.Fatal(err)
	}
	badReason[len(badReason)-1] = 0xff
	if _, err := ParseError(badReason); !errors.Is(err, ErrMalformed) {
		t.Errorf("ParseError of a reason that is not UTF-8: %v, want %v", err, ErrMalformed)
	}
}

func TestControlHotPathsDoNotAllocate(t *testing.T) {
	buf := make([]byte, 0, 64)
	ping := AppendPing(nil, 12.5)
	if n := testing.AllocsPerRun(100, func() {
		buf = AppendPing(buf[:0], 12.5)
		if _, err := ParsePing(ping); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("a ping round trip allocates %v times", n)
	}
}
