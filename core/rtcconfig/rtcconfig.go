// Package rtcconfig is the webrtc section of the configuration as plain
// data: what a communication server, the Go client SDK and the tools accept
// from an operator about ICE, ports and NAT. It has no pion in it, so code
// outside this module can build one; internal/rtc turns it into a pion API.
package rtcconfig

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

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
	Networks []string `koanf:"networks"`
	// ICEServers are the STUN and TURN servers this end's peer connections
	// use. Each is {urls, username, credential}; a plain string is accepted
	// as one server with that URL and no credentials (the form configs had
	// before credentials), so `ice_servers: [stun:a, turn:b]` still loads.
	ICEServers []ICEServer `koanf:"ice_servers"`
	// RelayOnly uses relay (TURN) candidates only, as the WebRTC API's
	// iceTransportPolicy "relay": no host or server-reflexive address is
	// offered or tried. For clients that must not reveal their addresses,
	// and for tests that prove a TURN path.
	RelayOnly  bool   `koanf:"relay_only"`
	UDPPortMin uint16 `koanf:"udp_port_min"`
	UDPPortMax uint16 `koanf:"udp_port_max"`
	// UDPMuxPort serves every peer on one UDP port when non-zero.
	UDPMuxPort int `koanf:"udp_mux_port"`
	// UDPBatchWrites sends the mux port's datagrams in batches, one
	// sendmmsg for up to UDPBatchSize of them, at most UDPBatchInterval
	// after the first was queued: fewer syscalls per delivery under
	// fan-out, for up to one interval more latency. Mux port only. A
	// pointer because it defaults to on and a zero field is filled with
	// the default: nil is the default (BatchWrites), false turns it off.
	// Zero size and interval are the defaults too.
	// UDPMuxBuffer is the mux socket's kernel receive and send buffer, in
	// bytes: one socket carries every peer, so it needs what a socket per
	// peer had between them (the kernel caps it at net.core.rmem_max and
	// wmem_max). 0 is the default, DefaultUDPMuxBuffer.
	UDPMuxBuffer     int           `koanf:"udp_mux_buffer"`
	UDPBatchWrites   *bool         `koanf:"udp_batch_writes"`
	UDPBatchSize     int           `koanf:"udp_batch_size"`
	UDPBatchInterval time.Duration `koanf:"udp_batch_interval"`
	NAT1To1IPs       []string      `koanf:"nat_1to1_ips"`
	// ReceiveMTU and SCTPReceiveBuffer trade memory per peer for throughput;
	// zero keeps pion's defaults.
	ReceiveMTU        uint   `koanf:"receive_mtu"`
	SCTPReceiveBuffer uint32 `koanf:"sctp_receive_buffer"`
	// SCTPZeroChecksum accepts the SCTP zero checksum (RFC 9653, DTLS as
	// the error detection method): this end says so in SCTP's INIT, and a
	// peer that implements it (pion does; so does Chrome's dcSCTP where it
	// is enabled) then sends it packets without a CRC32c. Each end sends
	// zero checksums only to a peer that accepted them, so it is safe with
	// any peer: one that does not implement it gets and sends checksums as
	// before. The Go SDK and brokerctl load accept it too, so the server
	// saves the CRC32c of every packet it sends them. A pointer as
	// UDPBatchWrites is: nil is the default (on), false turns it off.
	SCTPZeroChecksum *bool `koanf:"sctp_zero_checksum"`
}

// ICEServer is one STUN or TURN server, as the WebRTC API's RTCIceServer.
type ICEServer struct {
	URLs       []string `koanf:"urls"`
	Username   string   `koanf:"username"`
	Credential string   `koanf:"credential"`
}

// UnmarshalText reads the old form of an ice_servers entry, a bare URL.
// The config loader calls it for every entry that is a string. A
// comma-separated list (what --set and the environment give for the whole
// key) is one server with those URLs, as the old form made of it.
func (s *ICEServer) UnmarshalText(b []byte) error {
	var urls []string
	for u := range strings.SplitSeq(string(b), ",") {
		if u = strings.TrimSpace(u); u == "" {
			return errEmptyURL
		}
		urls = append(urls, u)
	}
	*s = ICEServer{URLs: urls}
	return nil
}

var errEmptyURL = errors.New("ice_servers: empty URL")

// Validate rejects an entry that cannot work: no URL, an URL that is not
// stun:, stuns:, turn: or turns:, or a username without a credential
// (or the reverse).
func (s ICEServer) Validate() error {
	if len(s.URLs) == 0 {
		return fmt.Errorf("ice_servers: an entry has no urls")
	}
	for _, u := range s.URLs {
		scheme, _, ok := strings.Cut(u, ":")
		switch {
		case !ok:
			return fmt.Errorf("ice_servers: %q: want a stun, stuns, turn or turns URL", u)
		case scheme == "stun" || scheme == "stuns" || scheme == "turn" || scheme == "turns":
		default:
			return fmt.Errorf("ice_servers: %q: want a stun, stuns, turn or turns URL", u)
		}
	}
	if (s.Username == "") != (s.Credential == "") {
		return fmt.Errorf("ice_servers: %v: username and credential go together", s.URLs)
	}
	return nil
}

// Batched UDP writes on the mux port (see Config.UDPBatchWrites): the
// defaults were measured with brokerctl load (see README.md).
const (
	DefaultUDPBatchWrites   = true
	DefaultUDPBatchSize     = 64
	DefaultUDPBatchInterval = 500 * time.Microsecond
)

// DefaultSCTPZeroChecksum is webrtc.sctp_zero_checksum's default.
const DefaultSCTPZeroChecksum = true

// ZeroChecksum reports whether SCTP accepts the zero checksum
// (SCTPZeroChecksum, on unless set to false).
func (c Config) ZeroChecksum() bool {
	return c.SCTPZeroChecksum == nil || *c.SCTPZeroChecksum
}

// DefaultUDPMuxBuffer is webrtc.udp_mux_buffer's default: 4 MiB, what
// about 20 peers had between them with a socket each (Linux's default
// buffer is 208 KiB), and no more than the usual net.core.rmem_max.
const DefaultUDPMuxBuffer = 4 << 20

// MuxBuffer is the mux socket's buffer size (UDPMuxBuffer, or its default).
func (c Config) MuxBuffer() int {
	if c.UDPMuxBuffer == 0 {
		return DefaultUDPMuxBuffer
	}
	return c.UDPMuxBuffer
}

// BatchWrites reports whether the mux port writes in batches
// (UDPBatchWrites, on unless set to false).
func (c Config) BatchWrites() bool {
	return c.UDPBatchWrites == nil || *c.UDPBatchWrites
}

// Defaults are the config defaults for the webrtc section, flat keys.
func Defaults() map[string]any {
	return map[string]any{
		"webrtc.loopback_only":       false,
		"webrtc.mdns":                false,
		"webrtc.networks":            []string{},
		"webrtc.ice_servers":         []any{},
		"webrtc.relay_only":          false,
		"webrtc.udp_port_min":        0,
		"webrtc.udp_port_max":        0,
		"webrtc.udp_mux_port":        0,
		"webrtc.udp_mux_buffer":      DefaultUDPMuxBuffer,
		"webrtc.udp_batch_writes":    DefaultUDPBatchWrites,
		"webrtc.udp_batch_size":      DefaultUDPBatchSize,
		"webrtc.udp_batch_interval":  DefaultUDPBatchInterval.String(),
		"webrtc.nat_1to1_ips":        []string{},
		"webrtc.receive_mtu":         0,
		"webrtc.sctp_receive_buffer": 0,
		"webrtc.sctp_zero_checksum":  DefaultSCTPZeroChecksum,
	}
}

// Validate rejects port, NAT and ICE server settings that cannot work, naming the key,
// so a deployment mistake is seen at start rather than as peers that never
// connect.
func (c Config) Validate() error {
	switch {
	case c.UDPMuxPort < 0 || c.UDPMuxPort > 65535:
		return fmt.Errorf("webrtc.udp_mux_port %d: %w", c.UDPMuxPort, ErrBadPort)
	case (c.UDPPortMin == 0) != (c.UDPPortMax == 0):
		return fmt.Errorf("webrtc.udp_port_min %d, webrtc.udp_port_max %d: %w", c.UDPPortMin, c.UDPPortMax, ErrHalfRange)
	case c.UDPPortMin > c.UDPPortMax:
		return fmt.Errorf("webrtc.udp_port_min %d > webrtc.udp_port_max %d: %w", c.UDPPortMin, c.UDPPortMax, ErrBadPort)
	case c.UDPMuxPort != 0 && c.UDPPortMin != 0:
		// pion would use the mux and silently ignore the range.
		return fmt.Errorf("webrtc.udp_mux_port and webrtc.udp_port_min/max: %w", ErrMuxAndRange)
	case c.UDPMuxBuffer < 0 || c.UDPMuxBuffer > 1<<30:
		return fmt.Errorf("webrtc.udp_mux_buffer %d: %w", c.UDPMuxBuffer, ErrBadMuxBuffer)
	case c.UDPBatchSize < 0 || c.UDPBatchSize > 1024:
		return fmt.Errorf("webrtc.udp_batch_size %d: %w", c.UDPBatchSize, ErrBadBatch)
	case c.UDPBatchInterval < 0 || c.UDPBatchInterval > 100*time.Millisecond:
		return fmt.Errorf("webrtc.udp_batch_interval %s: %w", c.UDPBatchInterval, ErrBadBatch)
	}
	for _, m := range c.NAT1To1IPs {
		// "public" for every local address, or "public/local" per address.
		pub, local, pair := strings.Cut(m, "/")
		if net.ParseIP(pub) == nil || pair && net.ParseIP(local) == nil {
			return fmt.Errorf("webrtc.nat_1to1_ips %q: %w", m, ErrBadNATIP)
		}
	}
	for _, s := range c.ICEServers {
		if err := s.Validate(); err != nil {
			return fmt.Errorf("webrtc.%w", err)
		}
	}
	return nil
}

// Errors of Validate.
var (
	ErrBadPort      = errors.New("not a UDP port, or an empty range")
	ErrHalfRange    = errors.New("set both or neither")
	ErrMuxAndRange  = errors.New("set one: the mux serves every peer on one port, the range gives each peer its own")
	ErrBadNATIP     = errors.New("want an IP address, or public/local IP addresses")
	ErrBadMuxBuffer = errors.New("want 0 (the default) to 1 GiB")
	ErrBadBatch     = errors.New("batched UDP writes want 1 to 1024 datagrams and an interval of at most 100ms (0: the default)")
)
