// Package testport picks loopback UDP ports for tests that must name a fixed
// port (webrtc.udp_mux_port). A port probed by binding port 0 and closing it
// is the kernel's to hand out again at once: any socket bound to port 0 in
// the meantime, by this test binary or by another package's running beside
// it (every pion peer binds its ICE sockets that way), may take it before the
// test binds it, and the test fails with "address already in use". A port
// below the kernel's ephemeral range is never handed to a port-0 bind, so
// only another caller naming that same port could take it.
package testport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"testing"
)

// lowest is the bottom of the range UDP picks from: well above the ports
// services listen on by convention.
const lowest = 20000

// UDP returns a loopback UDP port that nothing was bound to a moment ago and
// that no port-0 bind can be given.
func UDP(t testing.TB) int {
	t.Helper()
	top := ephemeralStart() // exclusive
	if top <= lowest {
		t.Fatalf("the kernel's ephemeral ports start at %d: no room below them above %d", top, lowest)
	}
	for range 100 {
		port := lowest + rand.IntN(top-lowest)
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		if err != nil {
			continue // taken: try another
		}
		_ = c.Close()
		return port
	}
	t.Fatalf("no free loopback UDP port in [%d, %d) after 100 tries", lowest, top)
	return 0
}

// ephemeralStart is the first port of the kernel's ephemeral range (Linux:
// net.ipv4.ip_local_port_range), or the IANA range's start, 49152, where it
// cannot be read.
func ephemeralStart() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 49152
	}
	var lo, hi int
	if _, err := fmt.Sscan(string(b), &lo, &hi); err != nil {
		return 49152
	}
	return lo
}
