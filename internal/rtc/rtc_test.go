package rtc

import (
	"strings"
	"testing"

	"github.com/pion/webrtc/v3"

	"github.com/webrtc-broker/webrtc-broker/core/rtcconfig"
)

func TestAcceptCandidate(t *testing.T) {
	cases := []struct {
		name     string
		loopback bool
		line     string
		want     bool
	}{
		{"loopback host in loopback mode", true, "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host", true},
		{"LAN host in loopback mode", true, "candidate:1 1 udp 2130706431 192.168.1.4 50000 typ host", false},
		{"mDNS name in loopback mode", true, "candidate:1 1 udp 2130706431 abc.local 50000 typ host", false},
		{"garbage in loopback mode", true, "not a candidate", false},
		{"end of candidates", true, "", true},
		{"LAN host in normal mode", false, "candidate:1 1 udp 2130706431 192.168.1.4 50000 typ host", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, err := NewAPI(rtcconfig.Config{LoopbackOnly: tc.loopback})
			if err != nil {
				t.Fatal(err)
			}
			if got := a.AcceptCandidate(webrtc.ICECandidateInit{Candidate: tc.line}); got != tc.want {
				t.Fatalf("AcceptCandidate(%q) = %v, want %v", tc.line, got, tc.want)
			}
		})
	}
}

func TestNetworksRejectsBadCIDR(t *testing.T) {
	_, err := NewAPI(rtcconfig.Config{Networks: []string{"198.18.0.0/15", "not-a-cidr"}})
	if err == nil || !strings.Contains(err.Error(), "webrtc.networks") {
		t.Fatalf("NewAPI with a bad CIDR: err = %v, want one naming webrtc.networks", err)
	}
}
