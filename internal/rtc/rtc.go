// Package rtc builds the pion WebRTC API that both ends of a broker link use
// (communication servers and the Go client SDK) from the webrtc.* config keys,
// and holds the rules every link follows: the two channel labels and their
// settings, and which remote ICE candidates are accepted.
package rtc

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"

	"github.com/pion/ice/v2"
	"github.com/pion/transport/v2/stdnet"
	"github.com/pion/webrtc/v3"

	"github.com/webrtc-broker/webrtc-broker/core/rtcconfig"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// Channel labels. The side that receives CONNECT creates both.
const (
	LabelReliable   = "reliable"
	LabelUnreliable = "unreliable"
)

// API is a configured pion API plus the ICE servers new peer connections use.
// Close releases the UDP mux socket if one was opened.
type API struct {
	*webrtc.API
	cfg rtcconfig.Config
	mux ice.UDPMux
}

// NewAPI builds the pion API. Data channels are detached: callers run their
// own read and write loops on them.
func NewAPI(cfg rtcconfig.Config) (*API, error) {
	var se webrtc.SettingEngine
	se.DetachDataChannels()
	// One logger per scope and one network object for every peer, instead of
	// pion's default of new ones per peer connection: measured about 20 KiB
	// less resident memory per idle peer, and no interface scan per connect.
	se.LoggerFactory = loggerFactory()
	network, err := stdnet.NewNet()
	if err != nil {
		return nil, fmt.Errorf("list network interfaces: %w", err)
	}
	se.SetNet(network)
	a := &API{cfg: cfg}
	// The filters are kept for the UDP mux, which gathers its addresses
	// itself: pion's setting engine filters do not reach it.
	var ipFilter func(net.IP) bool
	var ifFilter func(string) bool
	if cfg.LoopbackOnly {
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
		se.SetIncludeLoopbackCandidate(true)
		// A client's checks often reach the server before its trickled
		// candidates do, so the pair is peer-reflexive; pion waits 1s before
		// nominating such a pair, which on loopback only delays the link.
		se.SetPrflxAcceptanceMinWait(0)
		se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
		ipFilter = func(ip net.IP) bool { return ip.IsLoopback() }
		ifFilter = func(name string) bool { return strings.HasPrefix(name, "lo") }
		se.SetIPFilter(ipFilter)
		se.SetInterfaceFilter(ifFilter)
	} else {
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
		if !cfg.MDNS {
			se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
		}
		if len(cfg.Networks) > 0 {
			nets, err := parseNetworks(cfg.Networks)
			if err != nil {
				return nil, err
			}
			ipFilter = func(ip net.IP) bool {
				for _, n := range nets {
					if n.Contains(ip) {
						return true
					}
				}
				return false
			}
			se.SetIPFilter(ipFilter)
		}
	}
	if cfg.UDPPortMin != 0 || cfg.UDPPortMax != 0 {
		if err := se.SetEphemeralUDPPortRange(cfg.UDPPortMin, cfg.UDPPortMax); err != nil {
			return nil, fmt.Errorf("webrtc.udp_port_min/max %d-%d: %w", cfg.UDPPortMin, cfg.UDPPortMax, err)
		}
	}
	if len(cfg.NAT1To1IPs) > 0 {
		se.SetNAT1To1IPs(cfg.NAT1To1IPs, webrtc.ICECandidateTypeHost)
	}
	if cfg.ReceiveMTU > 0 {
		se.SetReceiveMTU(cfg.ReceiveMTU)
	}
	if cfg.SCTPReceiveBuffer > 0 {
		se.SetSCTPMaxReceiveBufferSize(cfg.SCTPReceiveBuffer)
	}
	// Offered in SCTP's INIT; used only towards a peer that accepts it.
	se.EnableSCTPZeroChecksum(cfg.ZeroChecksum())
	if cfg.UDPMuxPort != 0 {
		mux, err := newUDPMux(cfg, network, ipFilter, ifFilter)
		if err != nil {
			return nil, err
		}
		a.mux = mux
		se.SetICEUDPMux(mux)
	}
	a.API = webrtc.NewAPI(webrtc.WithSettingEngine(se))
	return a, nil
}

// parseNetworks reads webrtc.networks.
func parseNetworks(cidrs []string) ([]*net.IPNet, error) {
	nets := make([]*net.IPNet, 0, len(cidrs))
	for _, c := range cidrs {
		_, n, err := net.ParseCIDR(c)
		if err != nil {
			return nil, fmt.Errorf("webrtc.networks: %w", err)
		}
		nets = append(nets, n)
	}
	return nets, nil
}

// ICEServers converts configured ICE servers to pion's form; a credential
// is a password (TURN REST credentials are passwords too).
func ICEServers(in []rtcconfig.ICEServer) []webrtc.ICEServer {
	if len(in) == 0 {
		return nil
	}
	out := make([]webrtc.ICEServer, 0, len(in))
	for _, s := range in {
		w := webrtc.ICEServer{URLs: s.URLs, Username: s.Username}
		if s.Credential != "" {
			w.Credential = s.Credential
			w.CredentialType = webrtc.ICECredentialTypePassword
		}
		out = append(out, w)
	}
	return out
}

// FromProto converts the ICE servers of a WELCOME to pion's form, leaving
// out entries without URLs (nothing to use).
func FromProto(in []*protocol.IceServer) []webrtc.ICEServer {
	var out []webrtc.ICEServer
	for _, s := range in {
		if len(s.GetUrls()) == 0 {
			continue
		}
		w := webrtc.ICEServer{URLs: s.GetUrls(), Username: s.GetUsername()}
		if s.GetCredential() != "" {
			w.Credential = s.GetCredential()
			w.CredentialType = webrtc.ICECredentialTypePassword
		}
		out = append(out, w)
	}
	return out
}

// NewPeerConnection creates a peer connection with the configured ICE servers
// (none in loopback-only mode). certs, when given, replace the per-connection
// certificate pion would generate (a server presents one on all its links).
func (a *API) NewPeerConnection(certs ...webrtc.Certificate) (*webrtc.PeerConnection, error) {
	return a.NewPeerConnectionWith(nil, certs...)
}

// NewPeerConnectionWith is NewPeerConnection with more ICE servers after the
// configured ones: those a coordinator's WELCOME handed out (TURN
// credentials minted for this peer). Loopback-only mode still uses none.
func (a *API) NewPeerConnectionWith(extra []webrtc.ICEServer, certs ...webrtc.Certificate) (*webrtc.PeerConnection, error) {
	conf := webrtc.Configuration{Certificates: certs}
	if !a.cfg.LoopbackOnly {
		conf.ICEServers = append(ICEServers(a.cfg.ICEServers), extra...)
		if a.cfg.RelayOnly {
			conf.ICETransportPolicy = webrtc.ICETransportPolicyRelay
		}
	}
	pc, err := a.API.NewPeerConnection(conf)
	if err != nil {
		return nil, fmt.Errorf("new peer connection: %w", err)
	}
	return pc, nil
}

// Close releases the shared UDP socket, if any.
func (a *API) Close() error {
	if a.mux != nil {
		return a.mux.Close()
	}
	return nil
}

// ChannelInits returns the settings of the two channels, in creation order:
// reliable is ordered with retransmits, unreliable is unordered with none.
func ChannelInits() (reliable, unreliable *webrtc.DataChannelInit) {
	ordered := true
	unordered := false
	var zero uint16
	return &webrtc.DataChannelInit{Ordered: &ordered},
		&webrtc.DataChannelInit{Ordered: &unordered, MaxRetransmits: &zero}
}

// AcceptCandidate reports whether a remote ICE candidate (the JSON of a
// webrtc.ICECandidateInit, as signaled) may be added. In loopback-only mode a
// candidate whose address is not loopback is refused, so a test or local run
// never sends a packet off this machine.
func (a *API) AcceptCandidate(c webrtc.ICECandidateInit) bool {
	if !a.cfg.LoopbackOnly {
		return true
	}
	return IsLoopbackCandidate(c.Candidate)
}

// IsLoopbackCandidate parses an SDP candidate line and reports whether its
// address is a loopback IP. An empty candidate (end of candidates) counts as
// loopback: it carries no address.
func IsLoopbackCandidate(line string) bool {
	if strings.TrimSpace(line) == "" {
		return true
	}
	c, err := ice.UnmarshalCandidate(line)
	if err != nil {
		return false
	}
	ip := net.ParseIP(c.Address())
	return ip != nil && ip.IsLoopback()
}

// DecodeCandidate parses the JSON that WEBRTC_ICE_CANDIDATE messages carry.
func DecodeCandidate(data []byte) (webrtc.ICECandidateInit, error) {
	var c webrtc.ICECandidateInit
	if err := json.Unmarshal(data, &c); err != nil {
		return c, fmt.Errorf("decode ICE candidate: %w", err)
	}
	return c, nil
}

// DecodeSDP parses the JSON that WEBRTC_OFFER and WEBRTC_ANSWER carry.
func DecodeSDP(data []byte) (webrtc.SessionDescription, error) {
	var s webrtc.SessionDescription
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("decode session description: %w", err)
	}
	return s, nil
}
