package client

import (
	"bytes"
	"math"
	"reflect"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/core/relay"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// FuzzDecode feeds decode, the client's parse of every data-channel message
// the server sends, arbitrary bytes. It must never panic, and wherever the
// generated code decodes the message, decode does too, to the same fields.
//
// It reads the decoded value by field name (checkDecode is generic in it) and
// names no error sentinel, so that it holds for whichever struct decode fills
// and whichever codec it wraps: the SDK rework changes both.
func FuzzDecode(f *testing.F) {
	for _, m := range []proto.Message{
		&protocol.TopicFWMessage{Type: protocol.MessageType_TOPIC_FW, FromAlias: 42, Body: []byte("b"), Topic: "t"},
		&protocol.TopicIdentityFWMessage{Type: protocol.MessageType_TOPIC_IDENTITY_FW, FromAlias: 7,
			Identity: []byte("alice"), Role: protocol.Role_CLIENT, Body: []byte("b"), Topic: "t"},
		&protocol.TopicMessage{Type: protocol.MessageType_TOPIC, FromAlias: 3, Topic: "t", Body: []byte("b")},
		&protocol.TopicIdentityMessage{Type: protocol.MessageType_TOPIC_IDENTITY, FromAlias: 3, Topic: "t",
			Identity: []byte("i"), Role: protocol.Role_COMMUNICATION_SERVER, Body: []byte("b")},
		&protocol.ErrorMessage{Type: protocol.MessageType_ERROR, Code: protocol.ErrorCode_ERROR_PUBLISH_DROPPED,
			Topic: "t", Reason: "rate limited"},
		&protocol.PingMessage{Type: protocol.MessageType_PING, Time: 12.5},
		&protocol.TopicMessage{Type: 99, FromAlias: 3, Topic: "t"},
	} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(relay.AppendTopicIdentityFW(nil, 1<<40, "chat.room", []byte("id"), protocol.Role_CLIENT, []byte("body")))
	f.Add([]byte{0x08, 0x09, 0x1b, 0x08, 0x01, 0x1c, 0x1a, 0x01, 'x'}) // a group among the fields
	f.Add([]byte{0x08})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		checkDecode(t, decode, b)
	})
}

// decoded is what FuzzDecode compares: the fields of the decoded struct.
type decoded struct {
	Type      protocol.MessageType
	FromAlias uint64
	Topic     string
	Body      []byte
	Identity  []byte
	Role      protocol.Role
	ErrorCode protocol.ErrorCode
	Reason    string
	pingTime  float64
}

func checkDecode[M any](t *testing.T, dec func([]byte, *M, func([]byte) string) error, b []byte) {
	t.Helper()
	var m M
	err := dec(b, &m, allocTopic)
	want, werr := decodeViaProto(b)
	if err != nil {
		if werr == nil {
			t.Fatalf("%x: decode fails (%v) where proto.Unmarshal decodes %+v", b, err, want)
		}
		return
	}
	if werr != nil {
		// proto.Unmarshal is stricter only in checking strings are UTF-8;
		// the client passes on what the server relayed.
		return
	}
	v := reflect.ValueOf(m)
	got := decoded{
		Type:      protocol.MessageType(v.FieldByName("Type").Int()),
		FromAlias: v.FieldByName("FromAlias").Uint(),
		Topic:     v.FieldByName("Topic").String(),
		Body:      v.FieldByName("Body").Bytes(),
		Identity:  v.FieldByName("Identity").Bytes(),
		Role:      protocol.Role(v.FieldByName("Role").Int()),
		ErrorCode: protocol.ErrorCode(v.FieldByName("ErrorCode").Int()),
		Reason:    v.FieldByName("Reason").String(),
		pingTime:  v.FieldByName("pingTime").Float(),
	}
	if got.Type != want.Type || got.FromAlias != want.FromAlias || got.Topic != want.Topic ||
		!bytes.Equal(got.Body, want.Body) || !bytes.Equal(got.Identity, want.Identity) || got.Role != want.Role ||
		got.ErrorCode != want.ErrorCode || got.Reason != want.Reason ||
		math.Float64bits(got.pingTime) != math.Float64bits(want.pingTime) {
		t.Fatalf("%x: decode = %+v, proto.Unmarshal = %+v", b, got, want)
	}
}

// decodeViaProto decodes b with the generated messages: decode's oracle.
func decodeViaProto(b []byte) (decoded, error) {
	var h protocol.MessageHeader
	if err := proto.Unmarshal(b, &h); err != nil {
		return decoded{}, err
	}
	d := decoded{Type: h.Type}
	var err error
	switch h.Type {
	case protocol.MessageType_TOPIC:
		var m protocol.TopicMessage
		err = proto.Unmarshal(b, &m)
		d.FromAlias, d.Topic, d.Body = m.FromAlias, m.Topic, m.Body
	case protocol.MessageType_TOPIC_FW:
		var m protocol.TopicFWMessage
		err = proto.Unmarshal(b, &m)
		d.FromAlias, d.Topic, d.Body = m.FromAlias, m.Topic, m.Body
	case protocol.MessageType_TOPIC_IDENTITY:
		var m protocol.TopicIdentityMessage
		err = proto.Unmarshal(b, &m)
		d.FromAlias, d.Topic, d.Body, d.Identity, d.Role = m.FromAlias, m.Topic, m.Body, m.Identity, m.Role
	case protocol.MessageType_TOPIC_IDENTITY_FW:
		var m protocol.TopicIdentityFWMessage
		err = proto.Unmarshal(b, &m)
		d.FromAlias, d.Topic, d.Body, d.Identity, d.Role = m.FromAlias, m.Topic, m.Body, m.Identity, m.Role
	case protocol.MessageType_PING:
		var m protocol.PingMessage
		err = proto.Unmarshal(b, &m)
		d.pingTime = m.Time
	case protocol.MessageType_ERROR:
		var m protocol.ErrorMessage
		err = proto.Unmarshal(b, &m)
		d.ErrorCode, d.Topic, d.Reason = m.Code, m.Topic, m.Reason
	}
	return d, err
}

// FuzzDecodeSignal feeds decodeSignal, the client's parse of what the
// coordinator sends on /connect, arbitrary bytes. It must never panic; a
// WELCOME it accepts carries its message, and it accepts exactly what the
// generated code decodes as the type's message.
func FuzzDecodeSignal(f *testing.F) {
	for _, m := range []proto.Message{
		&protocol.WelcomeMessage{Type: protocol.MessageType_WELCOME, Alias: 3, AvailableServers: []uint64{1, 2}},
		&protocol.WebRtcMessage{Type: protocol.MessageType_WEBRTC_OFFER, FromAlias: 1, ToAlias: 3, Data: []byte(`{"sdp":"v=0"}`)},
		&protocol.WebRtcMessage{Type: protocol.MessageType_WEBRTC_ICE_CANDIDATE, FromAlias: 1, Data: []byte(`{}`)},
		&protocol.ConnectionRefusedMessage{Type: protocol.MessageType_CONNECTION_REFUSED, FromAlias: 1,
			Reason: protocol.ConnectionRefusedReason_SERVER_FULL, Data: []byte("full")},
		&protocol.ConnectMessage{Type: protocol.MessageType_CONNECT, FromAlias: 1, ToAlias: 3},
	} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x08})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		sig, err := decodeSignal(b)
		var want proto.Message
		var h protocol.CoordinatorMessage
		herr := proto.Unmarshal(b, &h)
		switch h.GetType() {
		case protocol.MessageType_WELCOME:
			want = &protocol.WelcomeMessage{}
		case protocol.MessageType_WEBRTC_OFFER, protocol.MessageType_WEBRTC_ANSWER, protocol.MessageType_WEBRTC_ICE_CANDIDATE:
			want = &protocol.WebRtcMessage{}
		case protocol.MessageType_CONNECTION_REFUSED:
			want = &protocol.ConnectionRefusedMessage{}
		case protocol.MessageType_CONNECT:
			want = &protocol.ConnectMessage{}
		}
		werr := herr
		if werr == nil && want != nil {
			werr = proto.Unmarshal(b, want)
		}
		if (err == nil) != (werr == nil) {
			t.Fatalf("%x: decodeSignal = %v, proto.Unmarshal = %v", b, err, werr)
		}
		if err != nil {
			return
		}
		if sig.typ != h.GetType() {
			t.Fatalf("%x: type %v, want %v", b, sig.typ, h.GetType())
		}
		if w, ok := want.(*protocol.WelcomeMessage); ok && !proto.Equal(sig.welcome, w) {
			t.Fatalf("%x: WELCOME %v, want %v", b, sig.welcome, w)
		}
	})
}

// FuzzUnbatch feeds unbatch, the client's unpacking of a BATCH, arbitrary
// bytes. It must never panic; it accepts exactly the batches the generated
// code decodes (with at least one message), and hands on, in order, the
// inner messages as decode makes them, stopping at the first it refuses.
func FuzzUnbatch(f *testing.F) {
	fw := relay.AppendTopicFW(nil, 42, "t", []byte("b"))
	ping, _ := proto.Marshal(&protocol.PingMessage{Type: protocol.MessageType_PING, Time: 12.5})
	for _, b := range [][]byte{
		relay.AppendBatch(nil, fw, ping),
		relay.AppendBatch(nil, fw, []byte{0x08}, fw),
		relay.AppendBatch(nil, relay.AppendBatch(nil, fw)),
		relay.AppendBatch(nil, nil),
		relay.AppendBatchHeader(nil),
		append(relay.AppendBatch(nil, fw), 0x18, 0x01),
		fw,
	} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var got []frame
		err := unbatch(b, allocTopic, func(fr frame) { got = append(got, fr) })
		var want protocol.BatchMessage
		werr := proto.Unmarshal(b, &want)
		if werr != nil || want.Type != protocol.MessageType_BATCH || len(want.Messages) == 0 {
			if err == nil {
				t.Fatalf("%x: unbatch accepts what the generated code rejects (%v, %v)", b, werr, &want)
			}
			return
		}
		if len(got) > len(want.Messages) {
			t.Fatalf("%x: %d frames from a batch of %d", b, len(got), len(want.Messages))
		}
		for i, fr := range got {
			var alone frame
			if derr := decode(want.Messages[i], &alone, allocTopic); derr != nil || !equalFrame(fr, alone) {
				t.Fatalf("%x: message %d unbatched as %+v, alone %+v (%v)", b, i, fr, alone, derr)
			}
		}
		if err == nil && len(got) != len(want.Messages) {
			t.Fatalf("%x: %d of %d messages delivered without an error", b, len(got), len(want.Messages))
		}
	})
}
