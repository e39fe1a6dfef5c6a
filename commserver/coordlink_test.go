package commserver

import (
	"net/url"
	"testing"

	"github.com/webrtc-broker/webrtc-broker/protocol"
)

func TestDiscoverURL(t *testing.T) {
	tests := []struct {
		base      string
		role      protocol.Role
		transport string
		query     url.Values
		want      string
	}{
		{"ws://127.0.0.1:9090", protocol.Role_COMMUNICATION_SERVER, "", nil,
			"ws://127.0.0.1:9090/discover?role=COMMUNICATION_SERVER"},
		{"http://127.0.0.1:9090/", protocol.Role_COMMUNICATION_SERVER_HUB, TransportMesh, nil,
			"ws://127.0.0.1:9090/discover?role=COMMUNICATION_SERVER_HUB"},
		{"wss://coord.example/custom", protocol.Role_COMMUNICATION_SERVER, "", url.Values{"token": {"t1"}},
			"wss://coord.example/custom?role=COMMUNICATION_SERVER&token=t1"},
		// A NATS server tells the coordinator, which then lists it no
		// servers to link with and lists it to none.
		{"ws://127.0.0.1:9090", protocol.Role_COMMUNICATION_SERVER, TransportNATS, nil,
			"ws://127.0.0.1:9090/discover?role=COMMUNICATION_SERVER&transport=nats"},
	}
	for _, tt := range tests {
		got, err := discoverURL(tt.base, tt.role, tt.transport, 0, tt.query)
		if err != nil || got != tt.want {
			t.Errorf("discoverURL(%q) = %q, %v; want %q", tt.base, got, err, tt.want)
		}
	}
	if _, err := discoverURL("ftp://x", protocol.Role_COMMUNICATION_SERVER, "", 0, nil); err == nil {
		t.Errorf("an ftp URL was accepted")
	}
}

func TestSDPFingerprint(t *testing.T) {
	sdp := "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\na=fingerprint:sha-256 AB:CD:EF\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
	if got := sdpFingerprint(sdp); got != "sha-256 ab:cd:ef" {
		t.Fatalf("fingerprint = %q", got)
	}
	if got := sdpFingerprint("v=0\r\n"); got != "" {
		t.Fatalf("fingerprint of an SDP without one = %q, want empty", got)
	}
}
