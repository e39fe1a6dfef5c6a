package protocol

import (
	"bytes"
	"math"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// wire builds the expected encoding field by field, so the field numbers and
// enum values of the 2019 protocol are spelled out here independently of the
// generated code: a renumbered field or enum value fails this test.
type wire []byte

func (w wire) varint(num protowire.Number, v uint64) wire {
	w = protowire.AppendTag(w, num, protowire.VarintType)
	return protowire.AppendVarint(w, v)
}

func (w wire) bytes(num protowire.Number, v string) wire {
	w = protowire.AppendTag(w, num, protowire.BytesType)
	return protowire.AppendString(w, v)
}

func (w wire) double(num protowire.Number, v float64) wire {
	w = protowire.AppendTag(w, num, protowire.Fixed64Type)
	return protowire.AppendFixed64(w, math.Float64bits(v))
}

func (w wire) packed(num protowire.Number, vs ...uint64) wire {
	var inner []byte
	for _, v := range vs {
		inner = protowire.AppendVarint(inner, v)
	}
	w = protowire.AppendTag(w, num, protowire.BytesType)
	return protowire.AppendBytes(w, inner)
}

func TestWireCompatibility(t *testing.T) {
	cases := []struct {
		name string
		msg  proto.Message
		want wire
	}{
		{"CoordinatorMessage", &CoordinatorMessage{Type: MessageType_WELCOME}, wire{}.varint(1, 1)},
		{"WelcomeMessage", &WelcomeMessage{Type: MessageType_WELCOME, Alias: 7, AvailableServers: []uint64{3, 300}},
			wire{}.varint(1, 1).varint(2, 7).packed(3, 3, 300)},
		{"ConnectMessage", &ConnectMessage{Type: MessageType_CONNECT, FromAlias: 5, ToAlias: 9},
			wire{}.varint(1, 2).varint(2, 5).varint(3, 9)},
		{"ConnectMessage from_role", &ConnectMessage{FromRole: Role_COMMUNICATION_SERVER_HUB}, wire{}.varint(4, 3)},
		{"WebRtcMessage offer", &WebRtcMessage{Type: MessageType_WEBRTC_OFFER, FromAlias: 1, ToAlias: 2, Data: []byte(`{"type":"offer"}`)},
			wire{}.varint(1, 3).varint(2, 1).varint(3, 2).bytes(4, `{"type":"offer"}`)},
		{"WebRtcMessage answer", &WebRtcMessage{Type: MessageType_WEBRTC_ANSWER}, wire{}.varint(1, 4)},
		{"WebRtcMessage candidate", &WebRtcMessage{Type: MessageType_WEBRTC_ICE_CANDIDATE}, wire{}.varint(1, 5)},
		{"ConnectionRefusedMessage", &ConnectionRefusedMessage{Type: MessageType_CONNECTION_REFUSED, FromAlias: 1, ToAlias: 2, Reason: ConnectionRefusedReason_SERVER_FULL, Data: []byte("x")},
			wire{}.varint(1, 13).varint(2, 1).varint(3, 2).varint(4, 1).bytes(5, "x")},
		{"ConnectionRefused auth", &ConnectionRefusedMessage{Reason: ConnectionRefusedReason_AUTH_FAILED}, wire{}.varint(4, 2)},
		{"MessageHeader", &MessageHeader{Type: MessageType_PING}, wire{}.varint(1, 6)},
		{"PingMessage", &PingMessage{Type: MessageType_PING, Time: 1.5}, wire{}.varint(1, 6).double(2, 1.5)},
		{"SubscriptionMessage", &SubscriptionMessage{Type: MessageType_SUBSCRIPTION, Format: Format_GZIP, Topics: []byte("a b")},
			wire{}.varint(1, 7).varint(2, 2).bytes(3, "a b")},
		{"SubscriptionMessage plain", &SubscriptionMessage{Format: Format_PLAIN}, wire{}.varint(2, 1)},
		{"AuthMessage", &AuthMessage{Type: MessageType_AUTH, Role: Role_COMMUNICATION_SERVER, Body: []byte("tok")},
			wire{}.varint(1, 8).varint(2, 2).bytes(3, "tok")},
		{"AuthMessage client", &AuthMessage{Role: Role_CLIENT}, wire{}.varint(2, 1)},
		{"AuthMessage hub", &AuthMessage{Role: Role_COMMUNICATION_SERVER_HUB}, wire{}.varint(2, 3)},
		{"AuthMessage server link proof", &AuthMessage{Role: Role_COMMUNICATION_SERVER, ClusterProof: []byte("p")},
			wire{}.varint(2, 2).bytes(4, "p")},
		{"TopicMessage", &TopicMessage{Type: MessageType_TOPIC, FromAlias: 4, Topic: "t", Body: []byte("b")},
			wire{}.varint(1, 9).varint(2, 4).bytes(3, "t").bytes(4, "b")},
		{"TopicFWMessage", &TopicFWMessage{Type: MessageType_TOPIC_FW, FromAlias: 4, Body: []byte("b"), Topic: "t"},
			wire{}.varint(1, 10).varint(2, 4).bytes(3, "b").bytes(4, "t")},
		{"TopicIdentityMessage", &TopicIdentityMessage{Type: MessageType_TOPIC_IDENTITY, FromAlias: 4, Topic: "t", Identity: []byte("id"), Role: Role_CLIENT, Body: []byte("b")},
			wire{}.varint(1, 11).varint(2, 4).bytes(3, "t").bytes(4, "id").varint(5, 1).bytes(6, "b")},
		{"TopicIdentityFWMessage", &TopicIdentityFWMessage{Type: MessageType_TOPIC_IDENTITY_FW, FromAlias: 4, Identity: []byte("id"), Role: Role_CLIENT, Body: []byte("b"), Topic: "t"},
			wire{}.varint(1, 12).varint(2, 4).bytes(3, "id").varint(4, 1).bytes(5, "b").bytes(6, "t")},
		{"ErrorMessage", &ErrorMessage{Type: MessageType_ERROR, Code: ErrorCode_ERROR_SUBSCRIPTION_DENIED, Topic: "t", Reason: "no"},
			wire{}.varint(1, 14).varint(2, 2).bytes(3, "t").bytes(4, "no")},
		{"ErrorCodes", &ErrorMessage{Code: ErrorCode_ERROR_PROTOCOL_VIOLATION}, wire{}.varint(2, 4)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := proto.MarshalOptions{Deterministic: true}.Marshal(tc.msg)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("encoding changed:\n got  %x\n want %x", got, []byte(tc.want))
			}
		})
	}
}

// The header decode is how every reader dispatches: it must read field 1 of
// any message and ignore the rest.
func TestHeaderReadsAnyMessage(t *testing.T) {
	raw, err := proto.Marshal(&TopicMessage{Type: MessageType_TOPIC, FromAlias: 9, Topic: "x", Body: []byte("y")})
	if err != nil {
		t.Fatal(err)
	}
	var h MessageHeader
	if err := proto.Unmarshal(raw, &h); err != nil {
		t.Fatalf("header: %v", err)
	}
	if h.GetType() != MessageType_TOPIC {
		t.Fatalf("type = %v, want TOPIC", h.GetType())
	}
}
