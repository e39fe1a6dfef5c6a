package testport

import (
	"net"
	"testing"
)

func TestUDPIsBelowTheEphemeralRangeAndFree(t *testing.T) {
	port := UDP(t)
	if port < lowest || port >= ephemeralStart() {
		t.Fatalf("port %d outside [%d, %d)", port, lowest, ephemeralStart())
	}
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatalf("binding the port given: %v", err)
	}
	_ = c.Close()
}
