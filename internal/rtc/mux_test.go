package rtc

import (
	"errors"
	"net"
	"testing"

	"github.com/webrtc-broker/webrtc-broker/core/rtcconfig"
	"github.com/webrtc-broker/webrtc-broker/internal/testport"
)

// The mux gathers its own addresses: it must offer what ordinary gathering
// would, here loopback alone, on the one port.
func TestUDPMuxOnlyFilteredAddresses(t *testing.T) {
	port := testport.UDP(t)
	a, err := NewAPI(rtcconfig.Config{LoopbackOnly: true, UDPMuxPort: port})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	addrs := a.mux.GetListenAddresses()
	if len(addrs) == 0 {
		t.Fatal("mux listens nowhere")
	}
	for _, addr := range addrs {
		u := addr.(*net.UDPAddr)
		if !u.IP.IsLoopback() || u.Port != port {
			t.Errorf("mux listens on %v, want loopback port %d only", u, port)
		}
	}
}

// Outside loopback-only mode loopback is never offered, so networks that
// leave nothing else are an error at start, not a server no one can reach.
func TestUDPMuxNoAddressIsAnError(t *testing.T) {
	_, err := NewAPI(rtcconfig.Config{Networks: []string{"127.0.0.0/8"}, UDPMuxPort: testport.UDP(t)})
	if !errors.Is(err, errNoMuxAddress) {
		t.Fatalf("NewAPI: err = %v, want %v", err, errNoMuxAddress)
	}
}
