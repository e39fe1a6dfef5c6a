package rtc

import (
	"encoding/json"
	"testing"

	"github.com/pion/webrtc/v3"
)

// The signaled JSON comes from the coordinator, which relays it unread from
// any peer: decoding must fail cleanly, never panic, and what decodes must
// survive a round trip.

func FuzzDecodeCandidate(f *testing.F) {
	f.Add([]byte(`{"candidate":"candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host","sdpMid":"0","sdpMLineIndex":0}`))
	f.Add([]byte(`{"candidate":""}`))
	f.Add([]byte(`{"candidate":"candidate:1 1 udp 1 198.18.0.1 1 typ relay raddr 0.0.0.0 rport 0"}`))
	f.Add([]byte(`{"candidate":7}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCandidate(b)
		if err != nil {
			return
		}
		// Whatever decodes is judged by the loopback rule without panicking,
		// and re-encodes to the same candidate.
		_ = IsLoopbackCandidate(c.Candidate)
		again, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("re-encode %+v: %v", c, err)
		}
		back, err := DecodeCandidate(again)
		if err != nil || back.Candidate != c.Candidate {
			t.Fatalf("round trip of %q: %+v, %v", b, back, err)
		}
	})
}

func FuzzDecodeSDP(f *testing.F) {
	f.Add([]byte(`{"type":"offer","sdp":"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"}`))
	f.Add([]byte(`{"type":"answer","sdp":""}`))
	f.Add([]byte(`{"type":"bogus"}`))
	f.Add([]byte(`{"sdp":"\u0000"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeSDP(b)
		if err != nil {
			return
		}
		if s.Type != webrtc.SDPTypeOffer && s.Type != webrtc.SDPTypeAnswer &&
			s.Type != webrtc.SDPTypePranswer && s.Type != webrtc.SDPTypeRollback && s.Type != webrtc.SDPType(webrtc.Unknown) {
			t.Fatalf("%q decoded to type %d", b, s.Type)
		}
		// pion parses the SDP body on SetRemoteDescription; it must not panic on it.
		_, _ = s.Unmarshal()
	})
}
