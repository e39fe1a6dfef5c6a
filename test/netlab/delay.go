package netlab

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The kernel has no netem here, so delay is done in userspace: nftables
// hands each packet of the link to an NFQUEUE, and the lab gives the verdict
// (accept) once the packet has waited the delay. The queue's netlink socket
// is opened inside the host's namespace and then served from the test
// process.

// nfnetlink_queue constants (linux/netfilter/nfnetlink_queue.h).
const (
	nfnlSubsysQueue   = 3
	nfqnlMsgPacket    = 0
	nfqnlMsgVerdict   = 1
	nfqnlMsgConfig    = 2
	nfqaPacketHdr     = 1
	nfqaVerdictHdr    = 2
	nfqaCfgCmd        = 1
	nfqaCfgParams     = 2
	nfqaCfgQueueMax   = 3
	nfqnlCfgCmdBind   = 1
	nfqnlCopyMeta     = 1
	nfAccept          = 1
	nlmsgHdrLen       = 16
	nfgenHdrLen       = 4
	delayQueueNum     = 0
	delayQueueMaxLen  = 8192
	delaySocketBuffer = 8 << 20
)

// Delay holds every packet on the link for d, in each direction on its own
// (a path through two delayed links waits 2d one way, 4d there and back).
func Delay(d time.Duration) Impairment {
	return func(h *Host) { h.delay = d }
}

// delayer gives the verdicts of one host's queue.
type delayer struct {
	fd     int
	d      time.Duration
	wg     sync.WaitGroup
	closed chan struct{}
	once   sync.Once
}

type queued struct {
	id  uint32
	due time.Time
}

// startDelayer binds queue delayQueueNum in namespace ns.
func startDelayer(ns string, d time.Duration) (*delayer, error) {
	fd, err := socketIn(ns, func() (int, error) {
		return syscall.Socket(syscall.AF_NETLINK, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC, syscall.NETLINK_NETFILTER)
	})
	if err != nil {
		return nil, fmt.Errorf("NFQUEUE socket in %s: %w", ns, err)
	}
	_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, delaySocketBuffer)
	// A read time-out lets the receive loop notice close.
	tv := syscall.NsecToTimeval((200 * time.Millisecond).Nanoseconds())
	if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("NFQUEUE socket in %s: %w", ns, err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("NFQUEUE bind in %s: %w", ns, err)
	}
	cmd := []byte{nfqnlCfgCmdBind, 0, 0, 0} // command, pad, pf (unused)
	params := binary.BigEndian.AppendUint32(nil, 0xffff)
	params = append(params, nfqnlCopyMeta)
	maxLen := binary.BigEndian.AppendUint32(nil, delayQueueMaxLen)
	msg := queueMsg(nfqnlMsgConfig, attr(nfqaCfgCmd, cmd), attr(nfqaCfgParams, params), attr(nfqaCfgQueueMax, maxLen))
	if err := syscall.Sendto(fd, msg, 0, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("NFQUEUE config in %s: %w", ns, err)
	}
	q := &delayer{fd: fd, d: d, closed: make(chan struct{})}
	pending := make(chan queued, delayQueueMaxLen)
	q.wg.Add(2)
	go q.receive(pending)
	go q.release(pending)
	return q, nil
}

// socketIn runs open on a thread that is in namespace ns for the call; the
// socket stays in that namespace whichever thread uses it later.
func socketIn(ns string, open func() (int, error)) (int, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return -1, err
	}
	defer self.Close()
	target, err := os.Open("/run/netns/" + ns)
	if err != nil {
		return -1, err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return -1, fmt.Errorf("setns: %w", err)
	}
	fd, openErr := open()
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
		// The thread cannot go back: keep it locked so it dies with this
		// goroutine instead of serving others in the wrong namespace.
		runtime.LockOSThread()
		return -1, errors.Join(openErr, fmt.Errorf("setns back: %w", err))
	}
	return fd, openErr
}

// receive reads queued packets and hands their ids on in arrival order.
func (q *delayer) receive(pending chan<- queued) {
	defer q.wg.Done()
	defer close(pending)
	buf := make([]byte, 1<<16)
	for {
		select {
		case <-q.closed:
			return
		default:
		}
		n, _, err := syscall.Recvfrom(q.fd, buf, 0)
		if err != nil {
			// EAGAIN: the read time-out. ENOBUFS: queue messages were lost
			// (the socket buffer is sized so that it does not happen).
			if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EINTR) || errors.Is(err, syscall.ENOBUFS) {
				continue
			}
			return
		}
		now := time.Now()
		for b := buf[:n]; len(b) >= nlmsgHdrLen; {
			l := int(binary.NativeEndian.Uint32(b))
			if l < nlmsgHdrLen || l > len(b) {
				break
			}
			typ := binary.NativeEndian.Uint16(b[4:])
			if typ == nfnlSubsysQueue<<8|nfqnlMsgPacket {
				if id, ok := packetID(b[nlmsgHdrLen+nfgenHdrLen : l]); ok {
					pending <- queued{id: id, due: now.Add(q.d)}
				}
			}
			b = b[(l+3)&^3:]
		}
	}
}

// release accepts each packet when it is due. The delay is the same for all,
// so arrival order is due order and the link keeps its order.
func (q *delayer) release(pending <-chan queued) {
	defer q.wg.Done()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for p := range pending {
		if wait := time.Until(p.due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-q.closed:
				return
			}
		}
		hdr := binary.BigEndian.AppendUint32(nil, nfAccept)
		hdr = binary.BigEndian.AppendUint32(hdr, p.id)
		_ = syscall.Sendto(q.fd, queueMsg(nfqnlMsgVerdict, attr(nfqaVerdictHdr, hdr)), 0,
			&syscall.SockaddrNetlink{Family: syscall.AF_NETLINK})
	}
}

// close stops serving the queue; its nft rule bypasses a queue nobody
// serves, so the link carries on undelayed.
func (q *delayer) close() {
	q.once.Do(func() {
		close(q.closed)
		q.wg.Wait()
		_ = syscall.Close(q.fd)
	})
}

// packetID finds NFQA_PACKET_HDR among a packet message's attributes.
func packetID(attrs []byte) (uint32, bool) {
	for len(attrs) >= 4 {
		l := int(binary.NativeEndian.Uint16(attrs))
		typ := binary.NativeEndian.Uint16(attrs[2:]) & 0x3fff
		if l < 4 || l > len(attrs) {
			return 0, false
		}
		if typ == nfqaPacketHdr && l >= 8 {
			return binary.BigEndian.Uint32(attrs[4:]), true
		}
		attrs = attrs[(l+3)&^3:]
	}
	return 0, false
}

func attr(typ uint16, data []byte) []byte {
	b := binary.NativeEndian.AppendUint16(nil, uint16(4+len(data)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// queueMsg is one nfnetlink_queue request for queue delayQueueNum.
func queueMsg(msgType uint16, attrs ...[]byte) []byte {
	body := []byte{syscall.AF_UNSPEC, 0} // family, NFNETLINK_V0
	body = binary.BigEndian.AppendUint16(body, delayQueueNum)
	for _, a := range attrs {
		body = append(body, a...)
	}
	b := binary.NativeEndian.AppendUint32(nil, uint32(nlmsgHdrLen+len(body)))
	b = binary.NativeEndian.AppendUint16(b, nfnlSubsysQueue<<8|msgType)
	b = binary.NativeEndian.AppendUint16(b, syscall.NLM_F_REQUEST)
	b = binary.NativeEndian.AppendUint32(b, 0) // seq
	b = binary.NativeEndian.AppendUint32(b, 0) // pid: the kernel's
	return append(b, body...)
}
