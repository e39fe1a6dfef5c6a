package relay

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/protocol"
)

func mustMarshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func equalMessage(a, b Message) bool {
	return a.Type == b.Type && a.From == b.From && a.Role == b.Role &&
		bytes.Equal(a.Topic, b.Topic) && bytes.Equal(a.Identity, b.Identity) && bytes.Equal(a.Body, b.Body) &&
		a.HasPosition == b.HasPosition && equalPosition(a.Position, b.Position)
}

// equalPosition compares by bits, so that NaNs from the fuzzer compare equal
// to themselves and -0 differs from 0, as on the wire.
func equalPosition(a, b Position) bool {
	return math.Float32bits(a.X) == math.Float32bits(b.X) &&
		math.Float32bits(a.Y) == math.Float32bits(b.Y) &&
		math.Float32bits(a.Z) == math.Float32bits(b.Z)
}

// posOf is the relay's view of a generated Position.
func posOf(p *protocol.Position) (Position, bool) {
	if p == nil {
		return Position{}, false
	}
	return Position{X: p.X, Y: p.Y, Z: p.Z}, true
}

func TestParseTopicReadsWhatProtoMarshalWrites(t *testing.T) {
	tests := []struct {
		name string
		msg  proto.Message
		want Message
	}{
		{"TOPIC", &protocol.TopicMessage{Type: protocol.MessageType_TOPIC, FromAlias: 7, Topic: "a.b", Body: []byte("body")},
			Message{Type: protocol.MessageType_TOPIC, From: 7, Topic: []byte("a.b"), Body: []byte("body")}},
		{"TOPIC_FW", &protocol.TopicFWMessage{Type: protocol.MessageType_TOPIC_FW, FromAlias: 7, Topic: "a.b", Body: []byte("body")},
			Message{Type: protocol.MessageType_TOPIC_FW, From: 7, Topic: []byte("a.b"), Body: []byte("body")}},
		{"TOPIC_FW of the 2019 protocol, without a topic", &protocol.TopicFWMessage{Type: protocol.MessageType_TOPIC_FW, FromAlias: 7, Body: []byte("body")},
			Message{Type: protocol.MessageType_TOPIC_FW, From: 7, Body: []byte("body")}},
		{"TOPIC_IDENTITY", &protocol.TopicIdentityMessage{Type: protocol.MessageType_TOPIC_IDENTITY, FromAlias: 7, Topic: "a.b",
			Identity: []byte("id"), Role: protocol.Role_CLIENT, Body: []byte("body")},
			Message{Type: protocol.MessageType_TOPIC_IDENTITY, From: 7, Topic: []byte("a.b"), Identity: []byte("id"),
				Role: protocol.Role_CLIENT, Body: []byte("body")}},
		{"TOPIC_IDENTITY_FW", &protocol.TopicIdentityFWMessage{Type: protocol.MessageType_TOPIC_IDENTITY_FW, FromAlias: 7, Topic: "a.b",
			Identity: []byte("id"), Role: protocol.Role_COMMUNICATION_SERVER, Body: []byte("body")},
			Message{Type: protocol.MessageType_TOPIC_IDENTITY_FW, From: 7, Topic: []byte("a.b"), Identity: []byte("id"),
				Role: protocol.Role_COMMUNICATION_SERVER, Body: []byte("body")}},
		{"all fields empty", &protocol.TopicMessage{Type: protocol.MessageType_TOPIC},
			Message{Type: protocol.MessageType_TOPIC}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTopic(mustMarshal(t, tt.msg))
			if err != nil {
				t.Fatal(err)
			}
			if !equalMessage(got, tt.want) {
				t.Fatalf("ParseTopic = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseTopicRoundTripsAppend(t *testing.T) {
	for _, f := range encodeCases {
		b := AppendTopicIdentityFW(nil, f.from, f.topic, f.identity, f.role, f.body)
		got, err := ParseTopic(b)
		if err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
		want := Message{Type: protocol.MessageType_TOPIC_IDENTITY_FW, From: f.from, Topic: []byte(f.topic),
			Identity: f.identity, Role: f.role, Body: f.body}
		if !equalMessage(got, want) {
			t.Fatalf("%s: ParseTopic = %+v, want %+v", f.name, got, want)
		}
	}
}

// field builders for hand-made wire bytes.
func varintField(num protowire.Number, v uint64) []byte {
	return protowire.AppendVarint(protowire.AppendTag(nil, num, protowire.VarintType), v)
}

func bytesField(num protowire.Number, v string) []byte {
	return protowire.AppendString(protowire.AppendTag(nil, num, protowire.BytesType), v)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestParseTopicFollowsProtobufRules(t *testing.T) {
	typeTopic := varintField(1, uint64(protocol.MessageType_TOPIC))
	tests := []struct {
		name string
		b    []byte
		want Message
	}{
		{"fields in reverse order, type last",
			cat(bytesField(4, "body"), bytesField(3, "t"), varintField(2, 9), typeTopic),
			Message{Type: protocol.MessageType_TOPIC, From: 9, Topic: []byte("t"), Body: []byte("body")}},
		{"the last occurrence wins",
			cat(typeTopic, bytesField(3, "old"), varintField(2, 1), bytesField(3, "new"), varintField(2, 2)),
			Message{Type: protocol.MessageType_TOPIC, From: 2, Topic: []byte("new")}},
		{"unknown fields of every wire type are skipped",
			cat(typeTopic, varintField(99, 5), bytesField(100, "x"),
				protowire.AppendFixed32(protowire.AppendTag(nil, 101, protowire.Fixed32Type), 1),
				protowire.AppendFixed64(protowire.AppendTag(nil, 102, protowire.Fixed64Type), 1),
				protowire.AppendTag(nil, 103, protowire.StartGroupType), varintField(1, 7), protowire.AppendTag(nil, 103, protowire.EndGroupType),
				bytesField(3, "t")),
			Message{Type: protocol.MessageType_TOPIC, Topic: []byte("t")}},
		{"a known field with the wrong wire type is skipped",
			cat(typeTopic, bytesField(2, "not a varint"), varintField(3, 1), bytesField(3, "t")),
			Message{Type: protocol.MessageType_TOPIC, Topic: []byte("t")}},
		{"field numbers are per type: identity fields of TOPIC_IDENTITY_FW",
			cat(varintField(1, uint64(protocol.MessageType_TOPIC_IDENTITY_FW)), bytesField(3, "id"), varintField(4, 2),
				bytesField(5, "body"), bytesField(6, "t")),
			Message{Type: protocol.MessageType_TOPIC_IDENTITY_FW, Identity: []byte("id"), Role: protocol.Role_COMMUNICATION_SERVER,
				Body: []byte("body"), Topic: []byte("t")}},
		{"an enum out of int32 range is truncated as protobuf does",
			cat(varintField(1, 1<<32|uint64(protocol.MessageType_TOPIC))),
			Message{Type: protocol.MessageType_TOPIC}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTopic(tt.b)
			if err != nil {
				t.Fatal(err)
			}
			if !equalMessage(got, tt.want) {
				t.Fatalf("ParseTopic = %+v, want %+v", got, tt.want)
			}
			checkAgainstProto(t, tt.b)
		})
	}
}

func TestParseTopicRejectsBadInput(t *testing.T) {
	valid := AppendTopic(nil, 300, "topic", []byte("body"))
	tests := []struct {
		name    string
		b       []byte
		wantErr error
		saying  string // part of the error text: it says what is wrong
	}{
		{"empty input has no type", nil, ErrNotTopic, "UNKNOWN_MESSAGE_TYPE"},
		{"another message type", mustMarshal(t, &protocol.PingMessage{Type: protocol.MessageType_PING, Time: 1}), ErrNotTopic, "PING"},
		{"truncated inside the body", valid[:len(valid)-1], ErrMalformed, "field 4"},
		{"truncated after a tag", valid[:3], ErrMalformed, "field 2"},
		{"truncated inside a varint", valid[:4], ErrMalformed, "field 2"},
		{"a length past the end", cat(varintField(1, 9), []byte{0x1a, 0x7f, 'a'}), ErrMalformed, "field 3"},
		{"field number zero", []byte{0x00, 0x01}, ErrMalformed, "tag"},
		{"field number past the largest valid", cat(varintField(1, 9), protowire.AppendTag(nil, protowire.MaxValidNumber+1, protowire.VarintType), []byte{0x01}), ErrMalformed, "out of range"},
		{"a varint longer than ten bytes", cat([]byte{0x08}, bytes.Repeat([]byte{0xff}, 10), []byte{0x01}), ErrMalformed, "field 1"},
		{"a stray end group", cat(varintField(1, 9), protowire.AppendTag(nil, 5, protowire.EndGroupType)), ErrMalformed, "field 5"},
		{"a topic that is not UTF-8", cat(varintField(1, 9), bytesField(3, "\xff\xfe")), ErrMalformed, "UTF-8"},
		{"random bytes", []byte("\xde\xad\xbe\xef garbage"), ErrMalformed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseTopic(tt.b)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ParseTopic = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.saying) {
				t.Fatalf("error %q does not say %q", err, tt.saying)
			}
			checkAgainstProto(t, tt.b)
		})
	}
}

// TestParseTopicRejectsEveryTruncation cuts a message at every length: a cut
// inside a field must fail, a cut between fields is a shorter valid message,
// exactly as proto.Unmarshal sees it.
func TestParseTopicRejectsEveryTruncation(t *testing.T) {
	b := AppendTopicIdentityFW(nil, 1<<40, "chat.room", []byte("identity"), protocol.Role_CLIENT, []byte("the body"))
	boundaries := map[int]bool{}
	for rest := b; len(rest) > 0; {
		_, _, n := protowire.ConsumeField(rest)
		rest = rest[n:]
		boundaries[len(b)-len(rest)] = true
	}
	for i := 1; i < len(b); i++ {
		_, err := ParseTopic(b[:i])
		if boundaries[i] && err != nil {
			t.Errorf("cut at field boundary %d: %v", i, err)
		}
		if !boundaries[i] && !errors.Is(err, ErrMalformed) {
			t.Errorf("cut inside a field at %d: err = %v, want ErrMalformed", i, err)
		}
		checkAgainstProto(t, b[:i])
	}
}

func TestParseTopicAsReportsBadFramingWithoutPanicking(t *testing.T) {
	b := AppendTopicIdentityFW(nil, 1<<40, "chat.room", []byte("identity"), protocol.Role_CLIENT, []byte("the body"))
	for i := 1; i < len(b); i++ {
		got, err := ParseTopicAs(protocol.MessageType_TOPIC_IDENTITY_FW, b[:i])
		want, wantErr := ParseTopic(b[:i])
		if !errors.Is(err, ErrMalformed) && (wantErr != nil || !equalMessage(got, want)) {
			t.Errorf("cut at %d: ParseTopicAs = %+v, %v; ParseTopic = %+v, %v", i, got, err, want, wantErr)
		}
	}
	if _, err := ParseTopicAs(protocol.MessageType_PING, b); !errors.Is(err, ErrNotTopic) {
		t.Errorf("ParseTopicAs(PING) = %v, want ErrNotTopic", err)
	}
}

func TestReadType(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
		want protocol.MessageType
	}{
		{"ping", mustMarshal(t, &protocol.PingMessage{Type: protocol.MessageType_PING, Time: 3}), protocol.MessageType_PING},
		{"subscription", mustMarshal(t, &protocol.SubscriptionMessage{Type: protocol.MessageType_SUBSCRIPTION, Topics: []byte("a b")}), protocol.MessageType_SUBSCRIPTION},
		{"type after other fields", cat(bytesField(3, "x"), varintField(1, uint64(protocol.MessageType_AUTH))), protocol.MessageType_AUTH},
		{"no type", bytesField(3, "x"), protocol.MessageType_UNKNOWN_MESSAGE_TYPE},
		{"unknown type value passes through", varintField(1, 77), protocol.MessageType(77)},
	}
	for _, tt := range tests {
		got, err := ReadType(tt.b)
		if err != nil || got != tt.want {
			t.Errorf("%s: ReadType = %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
	if _, err := ReadType([]byte{0x08}); !errors.Is(err, ErrMalformed) {
		t.Errorf("ReadType of a truncated type = %v, want ErrMalformed", err)
	}
}

func TestParseTopicDoesNotAllocate(t *testing.T) {
	b := AppendTopicIdentityFW(nil, 42, "chat.room", []byte("identity"), protocol.Role_CLIENT, []byte("the body"))
	if n := testing.AllocsPerRun(100, func() { _, _ = ParseTopic(b) }); n != 0 {
		t.Fatalf("ParseTopic: %v allocations, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = ParseTopicAs(protocol.MessageType_TOPIC_IDENTITY_FW, b) }); n != 0 {
		t.Fatalf("ParseTopicAs: %v allocations, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = ReadType(b) }); n != 0 {
		t.Fatalf("ReadType: %v allocations, want 0", n)
	}
}

// viaProto decodes b the slow way, with the generated messages: the oracle
// that ParseTopic must agree with.
func viaProto(b []byte) (Message, error) {
	var h protocol.MessageHeader
	if err := proto.Unmarshal(b, &h); err != nil {
		return Message{}, err
	}
	switch h.Type {
	case protocol.MessageType_TOPIC:
		var m protocol.TopicMessage
		err := proto.Unmarshal(b, &m)
		pos, has := posOf(m.Position)
		return Message{Type: m.Type, From: m.FromAlias, Topic: []byte(m.Topic), Body: m.Body, Position: pos, HasPosition: has}, err
	case protocol.MessageType_TOPIC_FW:
		var m protocol.TopicFWMessage
		err := proto.Unmarshal(b, &m)
		pos, has := posOf(m.Position)
		return Message{Type: m.Type, From: m.FromAlias, Topic: []byte(m.Topic), Body: m.Body, Position: pos, HasPosition: has}, err
	case protocol.MessageType_TOPIC_IDENTITY:
		var m protocol.TopicIdentityMessage
		err := proto.Unmarshal(b, &m)
		pos, has := posOf(m.Position)
		return Message{Type: m.Type, From: m.FromAlias, Topic: []byte(m.Topic), Identity: m.Identity, Role: m.Role, Body: m.Body,
			Position: pos, HasPosition: has}, err
	case protocol.MessageType_TOPIC_IDENTITY_FW:
		var m protocol.TopicIdentityFWMessage
		err := proto.Unmarshal(b, &m)
		pos, has := posOf(m.Position)
		return Message{Type: m.Type, From: m.FromAlias, Topic: []byte(m.Topic), Identity: m.Identity, Role: m.Role, Body: m.Body,
			Position: pos, HasPosition: has}, err
	default:
		return Message{Type: h.Type}, ErrNotTopic
	}
}

// checkAgainstProto fails unless ParseTopic and proto.Unmarshal agree on b:
// both reject it (for the same broad reason) or both decode the same fields.
func checkAgainstProto(t testing.TB, b []byte) {
	t.Helper()
	got, err := ParseTopic(b)
	want, wantErr := viaProto(b)
	switch {
	case errors.Is(wantErr, ErrNotTopic):
		if !errors.Is(err, ErrNotTopic) {
			t.Fatalf("%x: ParseTopic = %+v, %v; proto says it is a %v", b, got, err, want.Type)
		}
	case wantErr != nil:
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("%x: ParseTopic = %+v, %v; proto.Unmarshal fails: %v", b, got, err, wantErr)
		}
	case err != nil:
		t.Fatalf("%x: ParseTopic fails (%v) where proto.Unmarshal decodes %+v", b, err, want)
	case !equalMessage(got, want):
		t.Fatalf("%x: ParseTopic = %+v, proto.Unmarshal = %+v", b, got, want)
	}
}

func FuzzParseTopic(f *testing.F) {
	for _, c := range encodeCases[:len(encodeCases)-1] {
		f.Add(AppendTopic(nil, c.from, c.topic, c.body))
		f.Add(AppendTopicFW(nil, c.from, c.topic, c.body))
		f.Add(AppendTopicIdentity(nil, c.from, c.topic, c.identity, c.role, c.body))
		f.Add(AppendTopicIdentityFW(nil, c.from, c.topic, c.identity, c.role, c.body))
	}
	f.Add([]byte{0x08, 0x09, 0x1b, 0x08, 0x01, 0x1c, 0x1a, 0x01, 'x'}) // a group among the fields
	for _, pos := range positions {
		f.Add(AppendTopicAt(nil, 7, "world.a", []byte("s"), pos))
		f.Add(AppendTopicIdentityFWAt(nil, 7, "world.a", []byte("id"), protocol.Role_CLIENT, []byte("s"), pos))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkAgainstProto(t, b)
	})
}
