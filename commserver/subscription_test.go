package commserver

import (
	"bytes"
	"compress/gzip"
	"errors"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/protocol"
)

func gzipped(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestDecodeTopics(t *testing.T) {
	const maxSize = 64
	// A gzip bomb: a megabyte of topics that compresses to about a
	// kilobyte. The decoder must stop at the cap, not inflate it all.
	bomb := gzipped(t, strings.Repeat("a ", 1<<19))
	if len(bomb) > 4096 {
		t.Fatalf("bomb is %d bytes, want a small one", len(bomb))
	}
	tests := []struct {
		name    string
		format  protocol.Format
		raw     []byte
		want    []string
		wantErr error
	}{
		{"plain set", protocol.Format_PLAIN, []byte("a b c"), []string{"a", "b", "c"}, nil},
		{"plain with extra spaces", protocol.Format_PLAIN, []byte("  a   b "), []string{"a", "b"}, nil},
		{"empty set unsubscribes", protocol.Format_PLAIN, nil, []string{}, nil},
		{"gzip set", protocol.Format_GZIP, gzipped(t, "x y"), []string{"x", "y"}, nil},
		{"gzip exactly at the cap", protocol.Format_GZIP, gzipped(t, strings.Repeat("t", maxSize)), []string{strings.Repeat("t", maxSize)}, nil},
		{"plain over the cap", protocol.Format_PLAIN, []byte(strings.Repeat("t", maxSize+1)), nil, errTopicsTooLarge},
		{"gzip inflating over the cap", protocol.Format_GZIP, gzipped(t, strings.Repeat("t", maxSize+1)), nil, errTopicsTooLarge},
		{"gzip bomb", protocol.Format_GZIP, bomb, nil, errTopicsTooLarge},
		{"gzip that is not gzip", protocol.Format_GZIP, []byte("plain text"), nil, errMalformed},
		{"truncated gzip", protocol.Format_GZIP, gzipped(t, "a b c d e f")[:12], nil, errMalformed},
		{"unknown format", protocol.Format_UNKNOWN_FORMAT, []byte("a"), nil, errBadFormat},
		{"not UTF-8", protocol.Format_PLAIN, []byte{'a', ' ', 0xff}, nil, errMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeTopics(tt.format, tt.raw, maxSize)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err == nil && !slices.Equal(got, tt.want) && !(len(got) == 0 && len(tt.want) == 0) {
				t.Fatalf("topics = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestEncodeSubscriptionRoundTrips(t *testing.T) {
	for _, set := range []string{"", "a b", strings.Repeat("topic ", 1000)} {
		set = strings.TrimSpace(set)
		msg, err := encodeSubscription(set)
		if err != nil {
			t.Fatalf("encode %d bytes: %v", len(set), err)
		}
		var m protocol.SubscriptionMessage
		if err := proto.Unmarshal(msg, &m); err != nil {
			t.Fatalf("decode: %v", err)
		}
		wantFormat := protocol.Format_PLAIN
		if len(set) > gzipAbove {
			wantFormat = protocol.Format_GZIP
		}
		if m.Type != protocol.MessageType_SUBSCRIPTION || m.Format != wantFormat {
			t.Fatalf("%d bytes: type %v format %v, want SUBSCRIPTION %v", len(set), m.Type, m.Format, wantFormat)
		}
		got, err := decodeTopics(m.Format, m.Topics, 1<<20)
		if err != nil {
			t.Fatalf("decode topics: %v", err)
		}
		if strings.Join(got, " ") != strings.Join(strings.Fields(set), " ") {
			t.Fatalf("round trip of %d bytes changed the set", len(set))
		}
	}
}
