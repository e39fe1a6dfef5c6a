package rtc

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"
)

// batchConn is a UDP socket whose writes leave in batches: WriteTo copies
// the datagram into the pending batch and returns, and the batch goes out
// in one sendmmsg when it holds size datagrams, interval after its first
// datagram was queued, or on Close. Reads pass through untouched.
//
// It does what pion/transport's udp.BatchConn does, with two differences
// that matter on a server's mux port: the interval is measured from the
// first datagram of a batch (pion's ticker flushes at interval after the
// previous flush, checked every interval/2, and so wakes the process
// 2/interval times a second even when nothing is sent), and a datagram
// the kernel refuses is skipped rather than dropping the rest of the batch.
//
// A write error of a batched datagram cannot be returned to its writer (its
// WriteTo has returned): it is counted in failed and the datagram is lost,
// which UDP's users (ICE, DTLS, SCTP) recover from as from any loss.
type batchConn struct {
	net.PacketConn
	pc       *ipv4.PacketConn
	size     int
	interval time.Duration

	mu      sync.Mutex
	msgs    []ipv4.Message // size slots; msgs[:n] are pending
	n       int
	timer   *time.Timer // armed while n > 0
	closed  bool
	flushes atomic.Uint64 // sendmmsg batches sent
	sent    atomic.Uint64 // datagrams the kernel took
	failed  atomic.Uint64 // datagrams it refused
}

// batchSlotBytes is the buffer each slot starts with: a full Ethernet
// payload, so that ICE, DTLS and SCTP datagrams (SCTP keeps to about 1,200
// bytes) never grow it.
const batchSlotBytes = 1500

// newBatchConn wraps conn, an IPv4 UDP socket (*net.UDPConn), which it
// then owns.
func newBatchConn(conn net.PacketConn, size int, interval time.Duration) *batchConn {
	c := &batchConn{
		PacketConn: conn,
		pc:         ipv4.NewPacketConn(conn),
		size:       size,
		interval:   interval,
		msgs:       make([]ipv4.Message, size),
	}
	for i := range c.msgs {
		c.msgs[i].Buffers = [][]byte{make([]byte, 0, batchSlotBytes)}
	}
	c.timer = time.AfterFunc(time.Hour, c.flushDue)
	c.timer.Stop()
	return c
}

// WriteTo queues b for addr. The caller may reuse b as soon as it returns.
func (c *batchConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	m := &c.msgs[c.n]
	buf := m.Buffers[0]
	if cap(buf) < len(b) {
		buf = make([]byte, 0, len(b))
	}
	m.Buffers[0] = append(buf[:0], b...)
	m.Addr = addr
	c.n++
	switch {
	case c.n == c.size:
		c.timer.Stop()
		c.flushLocked()
	case c.n == 1:
		c.timer.Reset(c.interval)
	}
	return len(b), nil
}

// flushDue is the interval's flush. It may come late for a batch a size
// flush already sent and flush the next one early: the interval is a bound
// on waiting, not a schedule.
func (c *batchConn) flushDue() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.flushLocked()
}

// flushLocked sends the pending datagrams; c.mu is held.
func (c *batchConn) flushLocked() {
	if c.n == 0 {
		return
	}
	pending := c.msgs[:c.n]
	for len(pending) > 0 {
		n, err := c.pc.WriteBatch(pending, 0)
		c.sent.Add(uint64(max(n, 0)))
		if err != nil {
			// pending[n] is the datagram the kernel refused (or, with
			// n == 0, the first): skip it, send the rest.
			c.failed.Add(1)
			n++
		}
		pending = pending[min(max(n, 1), len(pending)):]
	}
	c.flushes.Add(1)
	for i := range c.msgs[:c.n] {
		c.msgs[i].Addr = nil
	}
	c.n = 0
}

// Close sends what is pending, then closes the socket.
func (c *batchConn) Close() error {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		c.timer.Stop()
		c.flushLocked()
	}
	c.mu.Unlock()
	return c.PacketConn.Close()
}
