package rtc

import (
	"errors"
	"fmt"
	"net"

	"github.com/pion/ice/v2"
	"github.com/pion/transport/v2"

	"github.com/webrtc-broker/webrtc-broker/core/rtcconfig"
)

// newUDPMux opens webrtc.udp_mux_port on every local IPv4 address that
// ordinary gathering would offer (loopback only in loopback-only mode,
// never otherwise; only webrtc.networks when set): one port for every peer.
// A socket per address rather than one on 0.0.0.0, because pion offers
// every address of a wildcard socket as a candidate, loopback and filtered
// networks included, and because replies then leave from the address the
// peer sent to. With webrtc.udp_batch_writes each socket writes in batches
// (batchConn).
//
// It does what ice.NewMultiUDPMuxFromPort does, opening the sockets itself
// so that it can wrap them.
func newUDPMux(cfg rtcconfig.Config, network transport.Net, ipFilter func(net.IP) bool, ifFilter func(string) bool) (ice.UDPMux, error) {
	ips, err := muxAddresses(network, ipFilter, ifFilter, cfg.LoopbackOnly)
	if err != nil {
		return nil, fmt.Errorf("webrtc.udp_mux_port %d: %w", cfg.UDPMuxPort, err)
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("webrtc.udp_mux_port %d: %w", cfg.UDPMuxPort, errNoMuxAddress)
	}
	size, interval := cfg.UDPBatchSize, cfg.UDPBatchInterval
	if size <= 0 {
		size = rtcconfig.DefaultUDPBatchSize
	}
	if interval <= 0 {
		interval = rtcconfig.DefaultUDPBatchInterval
	}
	muxes := make([]ice.UDPMux, 0, len(ips))
	closeAll := func() {
		for _, m := range muxes {
			_ = m.Close()
		}
	}
	for _, ip := range ips {
		conn, err := network.ListenUDP("udp4", &net.UDPAddr{IP: ip, Port: cfg.UDPMuxPort})
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("webrtc.udp_mux_port %d on %s: %w", cfg.UDPMuxPort, ip, err)
		}
		if err := setBuffers(conn, cfg.MuxBuffer()); err != nil {
			_ = conn.Close()
			closeAll()
			return nil, fmt.Errorf("webrtc.udp_mux_buffer %d on %s: %w", cfg.MuxBuffer(), ip, err)
		}
		var pc net.PacketConn = conn
		if cfg.BatchWrites() {
			pc = newBatchConn(conn, size, interval)
		}
		muxes = append(muxes, ice.NewUDPMuxDefault(ice.UDPMuxParams{UDPConn: pc, Net: network}))
	}
	return ice.NewMultiUDPMuxDefault(muxes...), nil
}

// muxAddresses lists the local IPv4 addresses of up interfaces that pass
// the filters, loopback ones only when loopback is set (pion's gathering
// rules, as ice.NewMultiUDPMuxFromPort applies them).
func muxAddresses(network transport.Net, ipFilter func(net.IP) bool, ifFilter func(string) bool, loopback bool) ([]net.IP, error) {
	ifaces, err := network.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list network interfaces: %w", err)
	}
	var ips []net.IP
	for _, iface := range ifaces {
		if iface.Flags&net.FlagUp == 0 || iface.Flags&net.FlagLoopback != 0 && !loopback {
			continue
		}
		if ifFilter != nil && !ifFilter(iface.Name) {
			continue
		}
		addrs, err := iface.Addrs()
		if err != nil {
			continue
		}
		for _, addr := range addrs {
			var ip net.IP
			switch a := addr.(type) {
			case *net.IPNet:
				ip = a.IP
			case *net.IPAddr:
				ip = a.IP
			}
			if ip == nil || ip.To4() == nil || ip.IsLoopback() && !loopback {
				continue
			}
			if ipFilter != nil && !ipFilter(ip) {
				continue
			}
			ips = append(ips, ip)
		}
	}
	return ips, nil
}

// errNoMuxAddress: the filters leave no local address to open the mux on.
var errNoMuxAddress = errors.New("no local IPv4 address to listen on (see webrtc.networks)")

// setBuffers sets the kernel's receive and send buffers of the mux socket.
// One socket carries every peer's datagrams, where a port per peer gave each
// its own default buffer (about 208 KiB on Linux): at the default size a
// burst of fan-out, or a moment without CPU, overflows it and the datagrams
// are lost (RcvbufErrors in /proc/net/snmp). The kernel caps the size at
// net.core.rmem_max and wmem_max without an error.
func setBuffers(conn interface {
	SetReadBuffer(int) error
	SetWriteBuffer(int) error
}, size int,
) error {
	if size <= 0 {
		return nil
	}
	if err := conn.SetReadBuffer(size); err != nil {
		return fmt.Errorf("receive buffer: %w", err)
	}
	if err := conn.SetWriteBuffer(size); err != nil {
		return fmt.Errorf("send buffer: %w", err)
	}
	return nil
}
