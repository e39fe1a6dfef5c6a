package rtc

import (
	"fmt"
	"net"
	"testing"
	"time"
)

// batchPair is a batchConn and the socket it sends to, both on loopback.
func batchPair(t *testing.T, size int, interval time.Duration) (*batchConn, *net.UDPConn) {
	t.Helper()
	dst, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dst.Close() })
	src, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	c := newBatchConn(src, size, interval)
	t.Cleanup(func() { _ = c.Close() })
	return c, dst
}

func writeN(t *testing.T, c *batchConn, to net.Addr, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		msg := fmt.Appendf(nil, "datagram %d", i)
		if k, err := c.WriteTo(msg, to); err != nil || k != len(msg) {
			t.Fatalf("WriteTo %d: %d, %v", i, k, err)
		}
	}
}

// expect reads datagrams from..from+n-1 in order (loopback neither loses
// nor reorders a socket's datagrams), waiting up to 10s for each.
func expect(t *testing.T, dst *net.UDPConn, from, n int) {
	t.Helper()
	buf := make([]byte, 2048)
	for i := from; i < from+n; i++ {
		_ = dst.SetReadDeadline(time.Now().Add(10 * time.Second))
		k, _, err := dst.ReadFrom(buf)
		if err != nil {
			t.Fatalf("waiting for datagram %d: %v", i, err)
		}
		if got, want := string(buf[:k]), fmt.Sprintf("datagram %d", i); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
}

// A full batch leaves at once, in one sendmmsg, with no timer involved
// (the interval here is an hour); what is short of a batch waits.
func TestBatchConnFlushesOnSize(t *testing.T) {
	c, dst := batchPair(t, 4, time.Hour)
	writeN(t, c, dst.LocalAddr(), 0, 8)
	expect(t, dst, 0, 8)
	if f := c.flushes.Load(); f != 2 {
		t.Fatalf("%d flushes for 8 datagrams in batches of 4, want 2", f)
	}
	writeN(t, c, dst.LocalAddr(), 8, 3)
	if f := c.flushes.Load(); f != 2 {
		t.Fatalf("3 datagrams short of a batch were flushed (%d flushes)", f)
	}
}

// A batch that does not fill leaves one interval after its first datagram.
func TestBatchConnFlushesOnInterval(t *testing.T) {
	c, dst := batchPair(t, 64, time.Millisecond)
	writeN(t, c, dst.LocalAddr(), 0, 3)
	expect(t, dst, 0, 3)
	// And the next batch too: the timer re-arms.
	writeN(t, c, dst.LocalAddr(), 3, 2)
	expect(t, dst, 3, 2)
	// The timer's flush may still hold the lock after the kernel has
	// delivered; Close waits for it.
	_ = c.Close()
	if s := c.sent.Load(); s != 5 {
		t.Fatalf("sent %d, want 5", s)
	}
}

// Close sends what is pending: no datagram is stuck in a batch. Writing
// after Close fails.
func TestBatchConnFlushesOnClose(t *testing.T) {
	c, dst := batchPair(t, 64, time.Hour)
	writeN(t, c, dst.LocalAddr(), 0, 5)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	expect(t, dst, 0, 5)
	if _, err := c.WriteTo([]byte("late"), dst.LocalAddr()); err == nil {
		t.Fatal("WriteTo after Close succeeded")
	}
}

// A datagram the kernel refuses is skipped and counted; the rest of its
// batch still leaves, and a datagram larger than a slot is sent whole.
func TestBatchConnSkipsRefusedDatagram(t *testing.T) {
	c, dst := batchPair(t, 3, time.Hour)
	to := dst.LocalAddr()
	writeN(t, c, to, 0, 1)
	// Too large for UDP: EMSGSIZE.
	if _, err := c.WriteTo(make([]byte, 70000), to); err != nil {
		t.Fatal(err)
	}
	writeN(t, c, to, 1, 1)
	expect(t, dst, 0, 2)
	if f := c.failed.Load(); f != 1 {
		t.Fatalf("failed = %d, want 1", f)
	}
	big := make([]byte, 4000)
	copy(big, "big")
	if _, err := c.WriteTo(big, to); err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	buf := make([]byte, 8000)
	_ = dst.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, _, err := dst.ReadFrom(buf); err != nil || n != len(big) {
		t.Fatalf("big datagram: %d bytes, %v; want %d", n, err, len(big))
	}
}

// Steady state allocates nothing per datagram.
func BenchmarkBatchConnWriteTo(b *testing.B) {
	dst, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer dst.Close()
	src, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	c := newBatchConn(src, 64, time.Hour)
	defer c.Close()
	msg := make([]byte, 1100)
	to := dst.LocalAddr()
	b.ReportAllocs()
	for b.Loop() {
		_, _ = c.WriteTo(msg, to)
	}
}
