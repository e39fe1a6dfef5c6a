// Package rtcconfig is the webrtc section of the configuration as plain
// data: what a communication server, the Go client SDK and the tools accept
// from an operator about ICE, ports and NAT. It has no pion in it, so code
// outside this module can build one; internal/rtc turns it into a pion API.
package rtcconfig

// Config is the webrtc section of the configuration.
type Config struct {
	// LoopbackOnly gathers only 127.0.0.1 host candidates, disables mDNS and
	// ignores remote candidates that are not loopback: tests and local runs.
	LoopbackOnly bool `koanf:"loopback_only"`
	// MDNS lets pion resolve remote .local candidates (browsers hide their
	// host addresses behind them) by querying on the link's multicast
	// group. Off by default: a server then sends and listens for no
	// multicast at all, and peers are still reached through the
	// peer-reflexive candidates their checks create. Ignored in
	// loopback-only mode, which never uses mDNS.
	MDNS bool `koanf:"mdns"`
	// Networks, when set, are the CIDRs whose local addresses are gathered
	// as candidates; addresses of every other interface are never offered
	// (hosts with several networks, the fault-test lab).
	Networks   []string `koanf:"networks"`
	ICEServers []string `koanf:"ice_servers"`
	UDPPortMin uint16   `koanf:"udp_port_min"`
	UDPPortMax uint16   `koanf:"udp_port_max"`
	// UDPMuxPort serves every peer on one UDP port when non-zero.
	UDPMuxPort int      `koanf:"udp_mux_port"`
	NAT1To1IPs []string `koanf:"nat_1to1_ips"`
	// ReceiveMTU and SCTPReceiveBuffer trade memory per peer for throughput;
	// zero keeps pion's defaults.
	ReceiveMTU        uint   `koanf:"receive_mtu"`
	SCTPReceiveBuffer uint32 `koanf:"sctp_receive_buffer"`
}

// Defaults are the config defaults for the webrtc section, flat keys.
func Defaults() map[string]any {
	return map[string]any{
		"webrtc.loopback_only":       false,
		"webrtc.mdns":                false,
		"webrtc.networks":            []string{},
		"webrtc.ice_servers":         []string{},
		"webrtc.udp_port_min":        0,
		"webrtc.udp_port_max":        0,
		"webrtc.udp_mux_port":        0,
		"webrtc.nat_1to1_ips":        []string{},
		"webrtc.receive_mtu":         0,
		"webrtc.sctp_receive_buffer": 0,
	}
}
