package commserver

import (
	"bytes"
	"compress/gzip"
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// fuzzTopicsCap is max_topics_size in FuzzDecodeTopics: small, so that the
// fuzzer reaches the cap often.
const fuzzTopicsCap = 256

func gzipSeed(f *testing.F, s string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write([]byte(s)); err != nil {
		f.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		f.Fatal(err)
	}
	return b.Bytes()
}

// FuzzDecodeTopics feeds decodeTopics, the SUBSCRIPTION topic set as a peer
// sends it, arbitrary bytes in every format. It must never panic; it
// refuses, with one of its sentinels, anything over the cap (a compression
// bomb included, cheaply: the inflate stops at the cap) and anything not
// UTF-8; what it accepts is the set's fields, which re-encode
// (encodeSubscription) to the same set.
func FuzzDecodeTopics(f *testing.F) {
	plain, gz := int32(protocol.Format_PLAIN), int32(protocol.Format_GZIP)
	f.Add(plain, []byte("a b c"))
	f.Add(plain, []byte("  a\tb\n c  "))
	f.Add(plain, []byte{})
	f.Add(plain, []byte{'a', ' ', 0xff})
	f.Add(plain, bytes.Repeat([]byte("t"), fuzzTopicsCap+1))
	f.Add(gz, gzipSeed(f, "x y"))
	f.Add(gz, gzipSeed(f, strings.Repeat("t", fuzzTopicsCap)))
	f.Add(gz, gzipSeed(f, strings.Repeat("a ", 1<<19))) // a 1 MiB bomb in about 1 KiB
	f.Add(gz, gzipSeed(f, "x y")[:12])                  // truncated
	f.Add(gz, []byte("plain text"))
	f.Add(int32(protocol.Format_UNKNOWN_FORMAT), []byte("a"))
	f.Add(int32(77), []byte("a"))
	f.Fuzz(func(t *testing.T, format int32, raw []byte) {
		topics, err := decodeTopics(protocol.Format(format), raw, fuzzTopicsCap)
		if err != nil {
			if !errors.Is(err, errMalformed) && !errors.Is(err, errTopicsTooLarge) && !errors.Is(err, errBadFormat) {
				t.Fatalf("error without a sentinel: %v", err)
			}
			if format == int32(protocol.Format_PLAIN) && len(raw) <= fuzzTopicsCap && utf8.Valid(raw) {
				t.Fatalf("refused a valid PLAIN set: %v", err)
			}
			return
		}
		size := len(strings.Join(topics, " "))
		if size > fuzzTopicsCap {
			t.Fatalf("accepted %d bytes of topics over a cap of %d", size, fuzzTopicsCap)
		}
		for _, topic := range topics {
			if topic == "" || strings.ContainsFunc(topic, isSpace) || !utf8.ValidString(topic) {
				t.Fatalf("topic %q", topic)
			}
		}
		if format == int32(protocol.Format_PLAIN) && !slices.Equal(topics, strings.Fields(string(raw))) {
			t.Fatalf("PLAIN %q decoded to %q", raw, topics)
		}
		msg, err := encodeSubscription(strings.Join(topics, " "))
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		var m protocol.SubscriptionMessage
		if err := proto.Unmarshal(msg, &m); err != nil {
			t.Fatalf("re-encoded SUBSCRIPTION: %v", err)
		}
		again, err := decodeTopics(m.Format, m.Topics, fuzzTopicsCap)
		if err != nil || !slices.Equal(again, topics) {
			t.Fatalf("re-encoded %q decodes to %q, %v", topics, again, err)
		}
	})
}

// isSpace is what strings.Fields splits on.
func isSpace(r rune) bool { return len(strings.Fields(string(r))) == 0 }
