package natsbus

import (
	"bytes"
	"errors"
	"testing"

	"github.com/webrtc-broker/webrtc-broker/core/relay"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

func TestEnvelopeRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name       string
		reliable   bool
		identified bool
	}{{"reliable", true, false}, {"unreliable", false, false}, {"identity", true, true}, {"identity unreliable", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			b := AppendEnvelope(nil, tc.reliable, 0xfeedface, tc.identified, 42, "game.room 1", []byte("alice"), protocol.Role_CLIENT, []byte("hi"))
			if got := EnvelopeSize(tc.identified, 42, "game.room 1", []byte("alice"), protocol.Role_CLIENT, []byte("hi")); got != len(b) {
				t.Fatalf("EnvelopeSize = %d, encoded %d", got, len(b))
			}
			e, err := ParseEnvelope(b)
			if err != nil {
				t.Fatal(err)
			}
			m := e.Msg
			if e.Reliable != tc.reliable || e.Origin != 0xfeedface || m.From != 42 || string(m.Topic) != "game.room 1" || string(m.Body) != "hi" {
				t.Fatalf("decoded %+v", e)
			}
			wantType := protocol.MessageType_TOPIC
			if tc.identified {
				wantType = protocol.MessageType_TOPIC_IDENTITY
				if string(m.Identity) != "alice" || m.Role != protocol.Role_CLIENT {
					t.Fatalf("identity %q role %v", m.Identity, m.Role)
				}
			}
			if m.Type != wantType {
				t.Fatalf("inner type %v, want %v", m.Type, wantType)
			}
			// The inner message is exactly what a mesh link carries.
			var mesh []byte
			if tc.identified {
				mesh = relay.AppendTopicIdentity(nil, 42, "game.room 1", []byte("alice"), protocol.Role_CLIENT, []byte("hi"))
			} else {
				mesh = relay.AppendTopic(nil, 42, "game.room 1", []byte("hi"))
			}
			if !bytes.Equal(b[headerSize:], mesh) {
				t.Fatal("the envelope's body differs from the mesh link's TOPIC")
			}
		})
	}
}

func TestParseEnvelopeRefuses(t *testing.T) {
	good := AppendEnvelope(nil, true, 7, false, 1, "t", nil, 0, []byte("b"))
	with := func(i int, v byte) []byte { b := bytes.Clone(good); b[i] = v; return b }
	fw := append(appendHeader(nil, true, 7), relay.AppendTopicFW(nil, 1, "t", []byte("b"))...)
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, errShort},
		{"header only, cut", good[:headerSize-1], errShort},
		{"version 2", with(0, 2), errVersion},
		{"unknown flag", with(1, 0x80), errFlags},
		{"origin 0", append(appendHeader(nil, true, 0), good[headerSize:]...), errOrigin},
		{"a TOPIC_FW inside", fw, errInnerType},
		{"garbage inside", append(appendHeader(nil, true, 7), 0xff, 0xff), errBadEnvelope},
	} {
		if _, err := ParseEnvelope(tc.b); !errors.Is(err, tc.want) || !errors.Is(err, errBadEnvelope) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.want)
		}
	}
}

func FuzzParseEnvelope(f *testing.F) {
	f.Add(AppendEnvelope(nil, true, 7, false, 1, "t", nil, 0, []byte("b")))
	f.Add(AppendEnvelope(nil, false, 9, true, 1, "t", []byte("id"), protocol.Role_CLIENT, []byte("b")))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEnvelope(b)
		if err != nil {
			return
		}
		// What parses re-encodes to an envelope that parses alike.
		m := e.Msg
		again := AppendEnvelope(nil, e.Reliable, e.Origin, m.Type == protocol.MessageType_TOPIC_IDENTITY,
			m.From, string(m.Topic), m.Identity, m.Role, m.Body)
		e2, err := ParseEnvelope(again)
		if err != nil || e2.Reliable != e.Reliable || e2.Origin != e.Origin || e2.Msg.From != m.From ||
			!bytes.Equal(e2.Msg.Topic, m.Topic) || !bytes.Equal(e2.Msg.Body, m.Body) {
			t.Fatalf("re-encoded envelope differs: %+v vs %+v (%v)", e2, e, err)
		}
	})
}
