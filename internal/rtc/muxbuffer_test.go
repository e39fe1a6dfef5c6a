package rtc

import (
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/webrtc-broker/webrtc-broker/core/rtcconfig"
)

// sockBuf reads a socket option of conn's socket (SO_RCVBUF, SO_SNDBUF).
func sockBuf(t *testing.T, conn *net.UDPConn, opt int) int {
	t.Helper()
	raw, err := conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var serr error
	if err := raw.Control(func(fd uintptr) { v, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, opt) }); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatal(serr)
	}
	return v
}

func sysctl(t *testing.T, name string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/net/core/" + name)
	if err != nil {
		t.Skipf("no /proc/sys/net/core/%s (not Linux): %v", name, err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// The mux socket gets the configured buffers, up to the kernel's caps
// (Linux reports twice what was set, its bookkeeping included).
func TestMuxSocketBuffers(t *testing.T) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	before := sockBuf(t, conn, syscall.SO_RCVBUF)
	const size = 2 << 20
	if err := setBuffers(conn, size); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		opt int
		max string
	}{{syscall.SO_RCVBUF, "rmem_max"}, {syscall.SO_SNDBUF, "wmem_max"}} {
		want := min(size, sysctl(t, c.max))
		if got := sockBuf(t, conn, c.opt); got < want {
			t.Errorf("%s: buffer %d after setting %d (cap %d), want at least %d (it was %d)", c.max, got, size, sysctl(t, c.max), want, before)
		}
	}
	if d := (rtcconfig.Config{}).MuxBuffer(); d != rtcconfig.DefaultUDPMuxBuffer {
		t.Fatalf("default mux buffer %d, want %d", d, rtcconfig.DefaultUDPMuxBuffer)
	}
	if err := (rtcconfig.Config{UDPMuxBuffer: -1}).Validate(); !errors.Is(err, rtcconfig.ErrBadMuxBuffer) {
		t.Fatalf("udp_mux_buffer -1: err = %v, want %v", err, rtcconfig.ErrBadMuxBuffer)
	}
}
