// Package ceiling measures what raw pion does on this machine with no broker
// logic: one relay process reads one publisher's messages from a detached
// data channel and writes each to N detached channels, with the broker's
// message size and channel settings (internal/rtc). Its CPU per delivery and
// deliveries per second are the ceiling the broker's figures are reported
// against. The relay runs in a child process so that its CPU and memory are
// read from /proc on their own; the parent runs the publisher and the
// receivers and records deliveries and latency with the load generator's
// recorder and body format.
package ceiling

import (
	"time"

	"github.com/webrtc-broker/webrtc-broker/cmd/brokerctl/loadgen"
)

// Config describes one ceiling run.
type Config struct {
	// RelayCommand is the argv that starts a relay process: a program that
	// calls ServeRelay on its stdin and stdout.
	RelayCommand []string
	// RelayEnv is added to the relay's environment.
	RelayEnv []string
	// Receivers is the number of channels the relay writes each message to.
	Receivers int
	// Rate is the publisher's messages per second; deliveries per second are
	// Rate x Receivers.
	Rate float64
	// Burst sends that many messages back to back every Burst/Rate seconds,
	// so that several queued messages for one peer can share a packet; 0 or 1
	// sends them evenly spaced.
	Burst    int
	BodySize int
	Reliable bool
	Warmup   time.Duration
	Duration time.Duration
	// ConnectTimeout bounds the setup of all peers; 0 means 60s.
	ConnectTimeout time.Duration
}

// Result is what one ceiling run measured.
type Result struct {
	Receivers     int     `json:"receivers"`
	Rate          float64 `json:"rate"`
	Burst         int     `json:"burst"`
	BodySize      int     `json:"body_size"`
	Channel       string  `json:"channel"`
	WindowSeconds float64 `json:"window_seconds"`

	loadgen.Counts
	LossPct          float64         `json:"loss_pct"`
	ExpectedPerSec   float64         `json:"expected_per_sec"`
	DeliveriesPerSec float64         `json:"deliveries_per_sec"`
	Latency          loadgen.Latency `json:"latency"`
	// RelayDropped counts unreliable writes the relay skipped because the
	// channel's send buffer was full (what a relay must do rather than grow
	// without bound).
	RelayDropped uint64 `json:"relay_dropped"`

	// Relay is the relay process over the window; CPUPerDeliveryUs is its
	// CPU divided by the deliveries counted in the window.
	Relay            loadgen.ProcUsage `json:"relay"`
	CPUPerDeliveryUs float64           `json:"cpu_per_delivery_us"`
	// IdleRSSPerPeerKB and IdleGoroutinesPerPeer are what one connected,
	// idle peer connection (with its two channels) adds to the relay process.
	IdleRSSPerPeerKB      float64           `json:"idle_rss_per_peer_kb"`
	IdleGoroutinesPerPeer float64           `json:"idle_goroutines_per_peer"`
	Generator             loadgen.ProcUsage `json:"generator"`
	// UDP is the machine's UDP traffic over the window (every process).
	UDP                  *loadgen.UDPStats `json:"udp,omitempty"`
	DatagramsPerDelivery float64           `json:"datagrams_per_delivery,omitempty"`
}
