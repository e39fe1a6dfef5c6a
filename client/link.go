package client

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v3"
)

// link is one connection to one server: a peer connection and its two data
// channels. A client has at most one at a time; reconnection replaces it.
type link struct {
	alias, server        uint64 // read-only once the link is returned by connect
	pc                   *webrtc.PeerConnection
	reliable, unreliable *dataChannel

	lostOnce sync.Once
	err      error         // why the link is gone; written once, before lost closes
	lost     chan struct{} // closed by fail
	loops    sync.WaitGroup
	// retired is closed by the client once it stops using the link (it is
	// no longer live), so that a call that found it lost waits for its
	// successor rather than spin.
	retired chan struct{}

	authMu     sync.Mutex // guards authReason
	authReason string     // the reason of an ERROR_AUTH_FAILED, if one arrived

	// drained is closed when the server sends DRAIN (drain.go); drainBy,
	// written once before, is when its grace ends. muted is set once a
	// move has handed over to the next link: what l still reads is dropped.
	drainOnce sync.Once
	drained   chan struct{}
	drainBy   time.Time
	muted     atomic.Bool
}

func newLink() *link {
	return &link{lost: make(chan struct{}), retired: make(chan struct{}), drained: make(chan struct{})}
}

func (l *link) channel(ch Channel) *dataChannel {
	if ch == Reliable {
		return l.reliable
	}
	return l.unreliable
}

// fail marks the link lost, once, with err.
func (l *link) fail(err error) {
	l.lostOnce.Do(func() {
		l.err = err
		close(l.lost)
	})
}

// isLost reports whether fail was called.
func (l *link) isLost() bool {
	select {
	case <-l.lost:
		return true
	default:
		return false
	}
}

// release closes the peer connection and waits for the read loops.
func (l *link) release(log *slog.Logger) {
	l.fail(fmt.Errorf("%w: server %d: link released", ErrDisconnected, l.server))
	if l.pc != nil {
		if err := l.pc.Close(); err != nil {
			log.Debug("close peer connection", "alias", l.alias, "server", l.server, "err", err)
		}
	}
	l.loops.Wait()
}

// write sends what enc appends to the channel's buffer, waiting for flow
// control unless the link is lost meanwhile.
func (l *link) write(ch *dataChannel, enc func([]byte) []byte) error {
	b, err := ch.begin(l.lost)
	if err != nil {
		return fmt.Errorf("server %d: %w", l.server, errLinkLost)
	}
	if err := ch.commit(enc(b)); err != nil {
		if l.isLost() {
			return fmt.Errorf("server %d: %w: %w", l.server, errLinkLost, err)
		}
		return err
	}
	return nil
}

// startLoops runs one read loop per channel. When one ends, the link is
// lost; the other is given linkGrace to end too, so that what it had
// already received (typically the server's ERROR on reliable, when the
// unreliable channel notices the close first) is delivered before the link
// is declared lost.
func (l *link) startLoops(deliver func(*dataChannel, []byte, topicCache)) {
	ended := make(chan error, 2)
	for _, ch := range []*dataChannel{l.reliable, l.unreliable} {
		l.loops.Add(1)
		go func() {
			defer l.loops.Done()
			ended <- ch.readLoop(deliver)
		}()
	}
	l.loops.Add(1)
	go func() {
		defer l.loops.Done()
		first := <-ended // release ends both loops too, through pc.Close
		grace := time.NewTimer(linkGrace)
		defer grace.Stop()
		select {
		case <-ended:
		case <-grace.C:
		}
		l.fail(l.linkErr(first))
	}()
}

// errLinkLost is what a write or ping on a link that is gone returns: the
// caller tries again on the next link.
var errLinkLost = errors.New("link lost")

// linkGrace is how long the second read loop may take to drain after the
// first ended.
const linkGrace = 250 * time.Millisecond

// linkErr wraps why the link was lost, preferring the server's own AUTH
// refusal when it sent one before closing.
func (l *link) linkErr(cause error) error {
	l.authMu.Lock()
	reason := l.authReason
	l.authMu.Unlock()
	if reason != "" {
		return fmt.Errorf("%w: server %d: %s (%w)", ErrAuthFailed, l.server, reason, cause)
	}
	return fmt.Errorf("%w: server %d: %w", ErrDisconnected, l.server, cause)
}
