package relay

import (
	"bytes"
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/protocol"
)

func TestAppendBatchMatchesProtoMarshal(t *testing.T) {
	inner := [][]byte{
		AppendTopicFW(nil, 42, "chat", []byte("hello")),
		AppendTopicIdentityFW(nil, 7, "chat", []byte("alice"), protocol.Role_CLIENT, bytes.Repeat([]byte("x"), 300)),
		{}, // an empty element is still an element
	}
	for n := 1; n <= len(inner); n++ {
		want, err := proto.Marshal(&protocol.BatchMessage{Type: protocol.MessageType_BATCH, Messages: inner[:n]})
		if err != nil {
			t.Fatal(err)
		}
		got := AppendBatch(nil, inner[:n]...)
		if !bytes.Equal(got, want) {
			t.Fatalf("%d messages: AppendBatch = %x, proto.Marshal = %x", n, got, want)
		}
		size := BatchHeaderSize
		for _, m := range inner[:n] {
			size += SizeBatchEntry(len(m))
		}
		if size != len(want) {
			t.Fatalf("%d messages: sizes add up to %d, encoded %d", n, size, len(want))
		}
	}
	if BatchHeaderSize != sizeType(protocol.MessageType_BATCH) {
		t.Fatalf("BatchHeaderSize = %d, the type field takes %d", BatchHeaderSize, sizeType(protocol.MessageType_BATCH))
	}
}

func TestParseBatch(t *testing.T) {
	a, b := AppendTopicFW(nil, 1, "t", []byte("a")), AppendPing(nil, 3.5)
	withUnknown := append(AppendBatch(nil, a), 0x18, 0x05) // field 3 varint: skipped
	withUnknown = AppendBatchEntry(withUnknown, b)
	wrongWire := append(AppendBatch(nil, a), 0x10, 0x01) // field 2 as a varint: skipped, as proto.Unmarshal does
	tests := []struct {
		name    string
		in      []byte
		want    [][]byte
		wantErr error
	}{
		{"two messages", AppendBatch(nil, a, b), [][]byte{a, b}, nil},
		{"unknown fields are skipped", withUnknown, [][]byte{a, b}, nil},
		{"a wrong wire type is skipped", wrongWire, [][]byte{a}, nil},
		{"empty inner message", AppendBatch(nil, nil), [][]byte{{}}, nil},
		{"no message", AppendBatchHeader(nil), nil, ErrMalformed},
		{"truncated", AppendBatch(nil, a, b)[:len(a)+3], nil, ErrMalformed},
		{"not a batch", a, nil, ErrWrongType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			it, err := ParseBatch(tt.in)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("ParseBatch = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			var got [][]byte
			for m, ok := it.Next(); ok; m, ok = it.Next() {
				got = append(got, m)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d messages, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if !bytes.Equal(got[i], tt.want[i]) {
					t.Fatalf("message %d = %x, want %x", i, got[i], tt.want[i])
				}
			}
			var pm protocol.BatchMessage
			if err := proto.Unmarshal(tt.in, &pm); err != nil || len(pm.Messages) != len(got) {
				t.Fatalf("proto.Unmarshal: %v, %d messages; ParseBatch found %d", err, len(pm.Messages), len(got))
			}
		})
	}
}

func TestParseBatchDoesNotAllocate(t *testing.T) {
	b := AppendBatch(nil, AppendTopicFW(nil, 1, "t", []byte("a")), AppendTopicFW(nil, 2, "t", []byte("b")))
	n := testing.AllocsPerRun(100, func() {
		it, err := ParseBatch(b)
		if err != nil {
			t.Fatal(err)
		}
		for m, ok := it.Next(); ok; m, ok = it.Next() {
			if _, err := ParseTopic(m); err != nil {
				t.Fatal(err)
			}
		}
	})
	if n != 0 {
		t.Fatalf("%v allocations per batch, want 0", n)
	}
}

func TestAppendFeatures(t *testing.T) {
	want, err := proto.Marshal(&protocol.AuthMessage{Type: protocol.MessageType_AUTH, Role: protocol.Role_CLIENT,
		Body: []byte("t"), Features: []protocol.Feature{protocol.Feature_FEATURE_BATCH}})
	if err != nil {
		t.Fatal(err)
	}
	got := AppendFeatures(AppendAuth(nil, protocol.Role_CLIENT, []byte("t")), protocol.Feature_FEATURE_BATCH)
	if !bytes.Equal(got, want) {
		t.Fatalf("AppendFeatures = %x, proto.Marshal = %x", got, want)
	}
	plain := AppendAuth(nil, protocol.Role_CLIENT, []byte("t"))
	if !bytes.Equal(AppendFeatures(bytes.Clone(plain)), plain) {
		t.Fatal("no features changed the 2019 AUTH")
	}
}
