package commserver

import (
	"context"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// Drain is the graceful half of a shutdown (cmd/commserver calls it on
// SIGTERM, before it cancels Run's context): the server refuses clients'
// CONNECTs from now on (SERVER_FULL, "server draining"), tells the
// coordinator (DRAIN, then every LOAD_REPORT says draining), which stops
// offering it to clients at once, and sends DRAIN to each client that
// declared FEATURE_DRAIN, which moves to another server. It returns once no
// client is left, after shutdown.grace, or when ctx is done, whichever
// comes first; what is left is closed when Run's context ends. Links to
// other servers stay up meanwhile, so the clients still here keep hearing
// the cluster. Clients of the 2019 protocol are sent nothing (they never
// receive an extension they did not ask for) and are simply closed at the
// end; they reconnect as after any loss. Calling Drain again returns at
// once.
func (s *Server) Drain(ctx context.Context) {
	if !s.draining.CompareAndSwap(false, true) {
		return
	}
	grace := s.cfg.Shutdown.Grace
	s.notifyLoad()
	if err := s.signalAll(&protocol.DrainMessage{Type: protocol.MessageType_DRAIN, GraceMs: graceMs(grace)}); err != nil {
		// The load report says it too, on this session or the next.
		s.log.Debug("DRAIN not sent to the coordinator", "err", err)
	}
	notice := s.drainNotice()
	told := 0
	for _, p := range s.snapshotPeers() {
		if p.gate.authorized() && p.creds().drain && !p.creds().isServer() && p.send(reliable, notice) {
			told++
		}
	}
	s.log.Info("draining: new clients refused, clients told to move", "grace", grace,
		"clients", s.clientCount(), "told", told)
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	for {
		n := s.clientCount()
		if n == 0 {
			s.log.Info("drained: no client left")
			return
		}
		select {
		case <-s.peerLeft:
		case <-deadline.C:
			s.log.Info("drain grace over: closing the clients left", "clients", n, "grace", grace)
			return
		case <-ctx.Done():
			s.log.Info("drain cut short", "clients", n, "err", ctx.Err())
			return
		}
	}
}

// Draining reports whether Drain has been called.
func (s *Server) Draining() bool { return s.draining.Load() }

// drainNotice is the DRAIN a client is sent.
func (s *Server) drainNotice() []byte {
	b, err := proto.Marshal(&protocol.DrainMessage{Type: protocol.MessageType_DRAIN, GraceMs: graceMs(s.cfg.Shutdown.Grace)})
	if err != nil { // cannot happen for this message
		s.log.Error("encode DRAIN", "err", err)
	}
	return b
}

// tellDraining sends DRAIN to a client that authenticates while the server
// drains (it was being set up when Drain began).
func (p *peer) tellDraining(c credentials) {
	if c.drain && !c.isServer() && p.s.draining.Load() {
		p.send(reliable, p.s.drainNotice())
		p.log.Debug("told to move: the server is draining")
	}
}

// clientCount is the clients connected or being set up.
func (s *Server) clientCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clientSlots + s.halfOpen
}

// peerGoneWhileDraining wakes Drain, which counts what is left.
func (s *Server) peerGoneWhileDraining() {
	if !s.draining.Load() {
		return
	}
	select {
	case s.peerLeft <- struct{}{}:
	default:
	}
}

// refuseDraining answers a client's CONNECT while draining.
func (s *Server) refuseDraining(l *coordLink, from uint64) {
	s.m.refusedFull.Inc()
	s.log.Debug("CONNECT refused: server draining", "peer", from)
	s.refuse(l, from, protocol.ConnectionRefusedReason_SERVER_FULL, "server draining")
}

func graceMs(d time.Duration) uint32 {
	return uint32(min(d.Milliseconds(), int64(^uint32(0))))
}
