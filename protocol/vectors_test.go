package protocol

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// testdata/vectors.json holds one encoding of every message type with its
// fields in the canonical proto3 JSON mapping. Both SDKs check that they
// decode the bytes to those fields and encode the fields to those bytes:
// this test for Go, client/js/test/vectors.test.ts for TypeScript.
// `go test ./protocol -run TestVectors -update` rewrites the file from
// vectorMessages below.

var update = flag.Bool("update", false, "rewrite testdata/vectors.json")

const vectorsFile = "testdata/vectors.json"

type vector struct {
	Name    string          `json:"name"`
	Message string          `json:"message"` // full protobuf name
	Hex     string          `json:"hex"`
	Fields  json.RawMessage `json:"fields"`
}

// vectorMessages sets every field that is not its zero value, so that each
// field number and wire type is pinned by some vector.
func vectorMessages() []struct {
	name string
	msg  proto.Message
} {
	return []struct {
		name string
		msg  proto.Message
	}{
		{"header", &MessageHeader{Type: MessageType_TOPIC}},
		{"coordinator header", &CoordinatorMessage{Type: MessageType_WELCOME}},
		{"welcome", &WelcomeMessage{Type: MessageType_WELCOME, Alias: 42, AvailableServers: []uint64{7, 300, 1 << 40}}},
		{"connect", &ConnectMessage{Type: MessageType_CONNECT, FromAlias: 3, ToAlias: 9, FromRole: Role_COMMUNICATION_SERVER}},
		{"webrtc offer", &WebRtcMessage{Type: MessageType_WEBRTC_OFFER, FromAlias: 9, ToAlias: 3,
			Data: []byte(`{"type":"offer","sdp":"v=0\r\n"}`)}},
		{"webrtc answer", &WebRtcMessage{Type: MessageType_WEBRTC_ANSWER, FromAlias: 3, ToAlias: 9,
			Data: []byte(`{"type":"answer","sdp":"v=0\r\n"}`)}},
		{"webrtc ice candidate", &WebRtcMessage{Type: MessageType_WEBRTC_ICE_CANDIDATE, FromAlias: 3, ToAlias: 9,
			Data: []byte(`{"candidate":"candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host","sdpMid":"0","sdpMLineIndex":0}`)}},
		{"connection refused", &ConnectionRefusedMessage{Type: MessageType_CONNECTION_REFUSED, FromAlias: 9, ToAlias: 3,
			Reason: ConnectionRefusedReason_SERVER_FULL, Data: []byte("max_peers 100 reached")}},
		{"connection refused busy", &ConnectionRefusedMessage{Type: MessageType_CONNECTION_REFUSED, FromAlias: 9, ToAlias: 3,
			Reason: ConnectionRefusedReason_SERVER_FULL, Data: []byte("busy, retry"), RetryAfterMs: 250}},
		{"ping", &PingMessage{Type: MessageType_PING, Time: 1764687600123.25}},
		{"subscription plain", &SubscriptionMessage{Type: MessageType_SUBSCRIPTION, Format: Format_PLAIN, Topics: []byte("chat positions")}},
		{"subscription gzip", &SubscriptionMessage{Type: MessageType_SUBSCRIPTION, Format: Format_GZIP,
			Topics: []byte{0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff}}},
		{"subscription part", &SubscriptionMessage{Type: MessageType_SUBSCRIPTION, Format: Format_PLAIN, Topics: []byte("a b"), More: true}},
		{"auth", &AuthMessage{Type: MessageType_AUTH, Role: Role_CLIENT, Body: []byte("token-bytes")}},
		{"topic", &TopicMessage{Type: MessageType_TOPIC, FromAlias: 5, Topic: "chat", Body: []byte("hello")}},
		{"topic fw", &TopicFWMessage{Type: MessageType_TOPIC_FW, FromAlias: 5, Body: []byte{0, 1, 2, 0xff}, Topic: "positions"}},
		{"topic identity", &TopicIdentityMessage{Type: MessageType_TOPIC_IDENTITY, FromAlias: 5, Topic: "chat",
			Identity: []byte("alice"), Role: Role_CLIENT, Body: []byte("hi")}},
		{"topic identity fw", &TopicIdentityFWMessage{Type: MessageType_TOPIC_IDENTITY_FW, FromAlias: 5,
			Identity: []byte("alice"), Role: Role_CLIENT, Body: []byte("hi"), Topic: "chat"}},
		{"error subscription denied", &ErrorMessage{Type: MessageType_ERROR, Code: ErrorCode_ERROR_SUBSCRIPTION_DENIED,
			Topic: "admin", Reason: "denied by policy"}},
		{"error message too large", &ErrorMessage{Type: MessageType_ERROR, Code: ErrorCode_ERROR_MESSAGE_TOO_LARGE, Topic: "chat", Reason: "relayed copy over max_message_size"}},
		{"welcome with ice servers", &WelcomeMessage{Type: MessageType_WELCOME, Alias: 42, AvailableServers: []uint64{7},
			IceServers: []*IceServer{{Urls: []string{"turn:198.18.0.2:3478?transport=udp", "turns:turn.example.com:443"},
				Username: "1764687600:alice", Credential: "ZHVtbXktY3JlZGVudGlhbA=="}}}},
		{"auth with features", &AuthMessage{Type: MessageType_AUTH, Role: Role_CLIENT, Body: []byte("t"),
			Features: []Feature{Feature_FEATURE_BATCH}}},
		{"drain", &DrainMessage{Type: MessageType_DRAIN, GraceMs: 30000}},
		{"load report", &LoadReportMessage{Type: MessageType_LOAD_REPORT, Clients: 120, Capacity: 1000, Cpu: 0.5,
			Draining: true, IceServers: []*IceServer{{Urls: []string{"turn:198.18.0.2:3478"}}}, RssBytes: 1 << 30, Connecting: 7}},
		{"batch", &BatchMessage{Type: MessageType_BATCH, Messages: [][]byte{{0x08, 0x0a, 0x10, 0x05}, {0x08, 0x0c}}}},
		{"topic with position", &TopicMessage{Type: MessageType_TOPIC, FromAlias: 5, Topic: "world.a", Body: []byte("s"),
			Position: &Position{X: 1.5, Y: -2, Z: 100}}},
		{"topic fw with stream", &TopicFWMessage{Type: MessageType_TOPIC_FW, FromAlias: 5, Body: []byte("s"), Topic: "world.a",
			Position: &Position{X: 1.5, Y: -2}, Stream: &StreamPosition{Epoch: 1764687600, Offset: 17}}},
		{"topic identity with position", &TopicIdentityMessage{Type: MessageType_TOPIC_IDENTITY, FromAlias: 5, Topic: "world.a",
			Identity: []byte("alice"), Role: Role_CLIENT, Body: []byte("s"), Position: &Position{Y: 3}}},
		{"topic identity fw with stream", &TopicIdentityFWMessage{Type: MessageType_TOPIC_IDENTITY_FW, FromAlias: 5,
			Identity: []byte("alice"), Role: Role_CLIENT, Body: []byte("s"), Topic: "chat", Position: &Position{X: 4},
			Stream: &StreamPosition{Epoch: 2, Offset: 9}}},
		{"subscription recover", &SubscriptionMessage{Type: MessageType_SUBSCRIPTION, Format: Format_PLAIN, Topics: []byte("chat"),
			Recover: []*TopicPosition{{Topic: "chat", Epoch: 2, Offset: 9}}}},
		{"recovery", &RecoveryMessage{Type: MessageType_RECOVERY, Topic: "chat", Recovered: true,
			Position: &StreamPosition{Epoch: 2, Offset: 12}, Replayed: 3}},
		{"presence request", &PresenceRequestMessage{Type: MessageType_PRESENCE_REQUEST, Topics: []string{"room.1", "lobby"}}},
		{"presence", &PresenceMessage{Type: MessageType_PRESENCE, Topic: "room.1", Snapshot: true,
			Members: []*Member{{Alias: 5, Identity: []byte("alice"), Role: Role_CLIENT}},
			Joined:  []*Member{{Alias: 6}}, Left: []*Member{{Alias: 7}}, Count: 1, CountsOnly: false}},
		{"presence counts", &PresenceMessage{Type: MessageType_PRESENCE, Topic: "lobby", Count: 5000, CountsOnly: true}},
		{"error protocol violation", &ErrorMessage{Type: MessageType_ERROR, Code: ErrorCode_ERROR_PROTOCOL_VIOLATION, Reason: "unknown type 99"}},
	}
}

func TestVectors(t *testing.T) {
	if *update {
		writeVectors(t)
	}
	b, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatalf("%v (generate it with -update)", err)
	}
	var vs []vector
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatalf("%s: %v", vectorsFile, err)
	}
	covered := map[MessageType]bool{}
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(v.Message))
			if err != nil {
				t.Fatalf("message %s: %v", v.Message, err)
			}
			wire, err := hex.DecodeString(v.Hex)
			if err != nil {
				t.Fatalf("hex: %v", err)
			}
			decoded := mt.New().Interface()
			if err := proto.Unmarshal(wire, decoded); err != nil {
				t.Fatalf("decode: %v", err)
			}
			want := mt.New().Interface()
			if err := protojson.Unmarshal(v.Fields, want); err != nil {
				t.Fatalf("fields: %v", err)
			}
			if !proto.Equal(decoded, want) {
				t.Fatalf("decoded %v, want %v", decoded, want)
			}
			again, err := proto.MarshalOptions{Deterministic: true}.Marshal(want)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, wire) {
				t.Fatalf("re-encoded %x, want %s", again, v.Hex)
			}
			var h MessageHeader
			if err := proto.Unmarshal(wire, &h); err != nil {
				t.Fatalf("header: %v", err)
			}
			covered[h.GetType()] = true
		})
	}
	for v := range MessageType_name {
		if typ := MessageType(v); typ != MessageType_UNKNOWN_MESSAGE_TYPE && !covered[typ] {
			t.Errorf("no vector for %s", typ)
		}
	}
}

func writeVectors(t *testing.T) {
	t.Helper()
	var vs []vector
	for _, m := range vectorMessages() {
		wire, err := proto.MarshalOptions{Deterministic: true}.Marshal(m.msg)
		if err != nil {
			t.Fatal(err)
		}
		fields, err := protojson.Marshal(m.msg)
		if err != nil {
			t.Fatal(err)
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, fields); err != nil { // protojson's spacing is randomized
			t.Fatal(err)
		}
		vs = append(vs, vector{m.name, string(m.msg.ProtoReflect().Descriptor().FullName()), hex.EncodeToString(wire), compact.Bytes()})
	}
	b, err := json.MarshalIndent(vs, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(vectorsFile), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(vectorsFile, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}
