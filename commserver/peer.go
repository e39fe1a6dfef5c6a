package commserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/datachannel"
	"github.com/pion/webrtc/v3"

	"github.com/webrtc-broker/webrtc-broker/core/outbound"
	"github.com/webrtc-broker/webrtc-broker/core/policy"
	"github.com/webrtc-broker/webrtc-broker/internal/rtc"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// chanKind is one of a peer's two data channels. A message is relayed on the
// kind it arrived on.
type chanKind int

const (
	reliable chanKind = iota
	unreliable
)

func (k chanKind) String() string {
	if k == reliable {
		return rtc.LabelReliable
	}
	return rtc.LabelUnreliable
}

// kindOf maps a data channel's label to its kind.
func kindOf(label string) (chanKind, bool) {
	switch label {
	case rtc.LabelReliable:
		return reliable, true
	case rtc.LabelUnreliable:
		return unreliable, true
	}
	return 0, false
}

// Writer flow control: the writer stops handing messages to pion while more
// than highWater bytes wait in SCTP, and resumes when pion reports the amount
// below lowWater. The unreliable channel keeps pion's share small so that an
// overloaded peer loses its oldest messages in our queue, not late ones.
var flow = [2]struct{ highWater, lowWater uint64 }{
	reliable:   {highWater: 1 << 20, lowWater: 256 << 10},
	unreliable: {highWater: 128 << 10, lowWater: 32 << 10},
}

// channel is one data channel of a peer: its outbound queue, which exists
// from the peer's creation so that what is sent before the channel opens is
// queued, and, once open, the detached reader/writer.
type channel struct {
	kind chanKind
	q    *outbound.Queue
	// queued counts messages accepted by q; with q.Written (those handed
	// to pion, each message of a batch counted) and pion's buffered amount
	// it tells when everything sent has left (see flushed).
	queued atomic.Uint64

	// Guarded by peer.mu: attached is set when pion hands us the channel,
	// dc and rw when it opens. The loops started at open read them freely.
	attached bool
	dc       *webrtc.DataChannel
	rw       datachannel.ReadWriteCloser
}

// peer is one WebRTC link, to a client or to another server. It runs one
// read loop per channel and one writer for both (outbound.Lanes). Its
// fields are grouped by owner; see locks.go for the lock order.
type peer struct {
	// Set by newPeer, or by the signaling goroutine before the peer is
	// published in Server.peers (under Server.mu); read-only after.
	s     *Server
	alias uint64 // the remote's coordinator alias when the link was made
	// offerer: the remote sent CONNECT, so this server made the peer
	// connection, the offer and the channels, and authenticates the remote's
	// AUTH. Otherwise this server sent CONNECT (a mesh link), answers, and
	// writes AUTH itself.
	offerer bool
	// signaledRole is the role the coordinator stamped on the remote's
	// CONNECT; its AUTH may not claim another (see authenticate).
	signaledRole protocol.Role
	// via is the coordinator link the peer is signaled over (coordmulti.go);
	// nil for a peer made without one (tests).
	via    *coordLink
	log    *slog.Logger
	ctx    context.Context // done when the peer is closed
	cancel context.CancelFunc
	gate   *authGate // safe for concurrent use
	chans  [2]*channel
	// lanes drains both channels' queues on one goroutine, started when
	// the first channel opens (writerStarted, under mu).
	lanes    *outbound.Lanes
	errLimit *errorLimiter // safe for concurrent use
	// establishing closes the peer unless it is established in time; set
	// at creation, before it can fire.
	establishing *time.Timer

	// Atomics, read and written by anyone. bad counts protocol violations;
	// refusing is set once AUTH has failed, after which input is ignored
	// while the ERROR drains; answered is set when the remote of an offered
	// peer answers (starts ICE).
	bad      atomic.Int32
	refusing atomic.Bool
	answered atomic.Bool

	// sig is owned by the read goroutine of the peer's coordinator link
	// (via), which handles all signaling for the peer, in order
	// (signaling.go).
	sig struct {
		remoteSet   bool
		remoteCands []webrtc.ICECandidateInit
		// iceStart closes an offered peer whose remote never answers
		// (answered) within ice_start_timeout.
		iceStart *time.Timer
	}

	// cand is shared by pion's OnICECandidate callback and the goroutine
	// that sends the local description; guarded by cand.mu.
	cand struct {
		mu       sync.Mutex
		descSent bool
		held     [][]byte
	}

	// srv is guarded by Server.mu.
	srv struct {
		remoteFP   string // DTLS fingerprint from the remote's SDP
		clientSlot bool   // counted against max_peers (a connected client)
		halfOpen   bool   // counted against max_half_open (a client not yet connected)
		// connectAt is when a half-open client's CONNECT was taken, for
		// the setup time busy refusals suggest (admission.go).
		connectAt time.Time
	}

	// mu guards the fields below and the channels' attached, dc and rw.
	mu            sync.Mutex
	pc            *webrtc.PeerConnection
	localFP       string // this end's DTLS fingerprint, from its own SDP
	closed        bool
	openChans     int
	writerStarted bool
	established   bool

	// readers counts running read loops: teardown waits for them before
	// it removes the peer's subscriptions, so that no loop re-adds them.
	readers sync.WaitGroup

	// ann is owned by the announcer goroutine: the last set announced to
	// this server link.
	ann struct {
		announced     string
		announcedOnce bool
	}
	// wd is the peer's part in world topics (world.go), guarded by wd.mu:
	// the topics the client subscribed to itself (less what a policy
	// denied), and the worlds among them, whose grids hold its position.
	// Its subscription table set is topics plus those worlds' interest
	// cells. Lock order: wd.mu, then worldSet.mu, a grid's locks and the
	// subscription table's.
	wd struct {
		mu     sync.Mutex
		topics []string
		joined []*world
	}
	// rp holds the peer's history replays under way (replay.go).
	rp replays
	// rd is owned by the reliable read loop: the topics of an
	// announcement's parts received so far, and their size (see
	// applyAnnouncement).
	rd struct {
		parts     []string
		partsSize int
	}
}

// newPeer creates a peer and counts it until its teardown. Server.mu held
// on entry, with closing checked: shutdown closes every peer in all.
func (s *Server) newPeer(alias uint64, offerer bool, signaled protocol.Role) *peer {
	ctx, cancel := context.WithCancel(s.ctx)
	p := &peer{
		s:            s,
		alias:        alias,
		offerer:      offerer,
		signaledRole: signaled,
		ctx:          ctx,
		cancel:       cancel,
		gate:         newAuthGate(),
		errLimit:     newErrorLimiter(nil),
		rp:           replays{kick: make(chan struct{}, 1)},
	}
	p.log = newPeerLogger(s.log, p)
	p.chans[reliable] = &channel{kind: reliable, q: outbound.NewReliable(s.cfg.Outbound.ReliableBytes)}
	p.chans[unreliable] = &channel{kind: unreliable, q: outbound.NewUnreliable(s.cfg.Outbound.UnreliableMessages)}
	p.chans[reliable].q.SetCoalesce(s.cfg.Outbound.Coalesce)
	p.chans[unreliable].q.SetCoalesce(s.cfg.UnreliableWindow())
	p.chans[unreliable].q.SetMaxDelay(s.cfg.Outbound.MaxDelay)
	p.lanes = outbound.NewLanes(p.chans[reliable].q, p.chans[unreliable].q)
	s.all[p] = struct{}{}
	s.peerWG.Add(1)
	p.establishing = time.AfterFunc(time.Hour, func() {
		p.mu.Lock()
		done := p.established || p.closed
		p.mu.Unlock()
		if !done {
			p.close(slog.LevelWarn, "closed: not established in time", errEstablishTimeout)
		}
	})
	// Armed only now that the field is set: the callback's close stops it.
	p.establishing.Reset(s.cfg.EstablishTimeout)
	return p
}

// creds returns who the peer is; valid once the gate is authorized.
func (p *peer) creds() credentials { return p.gate.creds }

// policyPeer is the peer as topic policies see it.
func (p *peer) policyPeer() policy.Peer {
	c := p.creds()
	return policy.Peer{Alias: p.alias, Identity: c.identity, Role: c.role}
}

// isServerLink reports whether the peer is an authenticated link to another
// server.
func (p *peer) isServerLink() bool { return p.gate.authorized() && p.creds().isServer() }

// setPC records the peer connection; false means the peer was closed
// meanwhile and the caller must close pc itself.
func (p *peer) setPC(pc *webrtc.PeerConnection) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.pc = pc
	return true
}

func (p *peer) peerConnection() *webrtc.PeerConnection {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pc
}

// live reports whether the peer is neither closed nor failed: a CONNECT
// for its alias must not replace it.
func (p *peer) live() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	if p.pc == nil {
		return true // still being set up
	}
	switch p.pc.ConnectionState() {
	case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed, webrtc.PeerConnectionStateDisconnected:
		return false
	}
	return true
}

// attach takes one of the peer's data channels: ours on the offering side,
// the remote's (from OnDataChannel) on the answering side.
func (p *peer) attach(kind chanKind, dc *webrtc.DataChannel) {
	ch := p.chans[kind]
	p.mu.Lock()
	dup := ch.attached
	ch.attached = true
	p.mu.Unlock()
	if dup {
		_ = dc.Close()
		p.violate(kind, protocol.MessageType_UNKNOWN_MESSAGE_TYPE, fmt.Errorf("%w: a second %q", errBadChannel, dc.Label()))
		return
	}
	dc.SetBufferedAmountLowThreshold(flow[kind].lowWater)
	dc.OnBufferedAmountLow(p.lanes.Low)
	dc.OnOpen(func() {
		rw, err := dc.Detach()
		if err != nil {
			p.close(slog.LevelWarn, "closed: detach data channel", err)
			return
		}
		p.opened(ch, dc, rw)
	})
}

// opened starts the channel's read loop and writer.
func (p *peer) opened(ch *channel, dc *webrtc.DataChannel, rw datachannel.ReadWriteCloser) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		_ = rw.Close()
		return
	}
	ch.dc, ch.rw = dc, rw
	p.openChans++
	p.readers.Add(1)
	startWriter := !p.writerStarted
	p.writerStarted = true
	p.mu.Unlock()

	if !p.s.routines.Go(func() { defer p.readers.Done(); p.readLoop(ch) }) {
		p.readers.Done()
		return
	}
	p.lanes.Attach(int(ch.kind), sink{dc: dc, rw: rw}, flow[ch.kind].highWater)
	if startWriter {
		p.s.routines.Go(func() {
			if err := p.lanes.Run(p.ctx); err != nil {
				p.close(slog.LevelInfo, "closed: write failed", err)
			}
		})
	}
	p.log.Debug("data channel open", "channel", ch.kind.String())
	p.checkEstablished()
}

// checkEstablished stops the establish timer once both channels are open
// and AUTH has passed.
func (p *peer) checkEstablished() {
	if !p.gate.authorized() {
		return
	}
	p.mu.Lock()
	if p.closed || p.established || p.openChans < 2 {
		p.mu.Unlock()
		return
	}
	p.established = true
	p.mu.Unlock()
	p.establishing.Stop()
	p.log.Info("peer established", "offerer", p.offerer)
}

// isEstablished reports whether both channels are open and AUTH passed.
func (p *peer) isEstablished() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.established
}

// sink is a detached data channel as the outbound writer sees it.
type sink struct {
	dc *webrtc.DataChannel
	rw datachannel.ReadWriteCloser
}

func (s sink) Write(b []byte) (int, error) { return s.rw.Write(b) }
func (s sink) Buffered() uint64            { return s.dc.BufferedAmount() }

// readLoop reads one channel until it fails or the peer closes. The buffer
// (readbuf.go) holds max_message_size+1 bytes so that an oversized message is
// seen as such; pion drops a message that does not fit at all and says so
// with io.ErrShortBuffer, after which the channel is still usable.
func (p *peer) readLoop(ch *channel) {
	maxSize := p.s.cfg.MaxMessageSize
	buf, release := readBuffer(maxSize + 1)
	defer release()
	for {
		n, err := ch.rw.Read(buf)
		switch {
		case errors.Is(err, io.ErrShortBuffer):
			p.violate(ch.kind, protocol.MessageType_UNKNOWN_MESSAGE_TYPE, errTooLarge)
			continue
		case err != nil:
			p.close(slog.LevelInfo, "closed: data channel ended", err)
			return
		case n > maxSize:
			p.violate(ch.kind, protocol.MessageType_UNKNOWN_MESSAGE_TYPE, errTooLarge)
			continue
		}
		p.handle(ch, buf[:n])
		if p.ctx.Err() != nil {
			return
		}
	}
}

// send queues msg on the peer's channel of kind. msg may be shared with
// other peers' queues and must not be modified afterwards. A peer over its
// reliable budget is a slow consumer and is closed; it never stalls the
// sender.
func (p *peer) send(kind chanKind, msg []byte) bool { return p.sendLatest(kind, msg, 0) }

// sendLatest is send of a latest-wins message: on the unreliable channel a
// key other than 0 supersedes the queued message of the same key
// (outbound.Queue.PushLatest).
func (p *peer) sendLatest(kind chanKind, msg []byte, key uint64) bool {
	ch := p.chans[kind]
	err := ch.q.PushLatest(msg, key)
	switch {
	case err == nil:
		ch.queued.Add(1)
		return true
	case errors.Is(err, outbound.ErrSlowConsumer):
		p.s.m.slowConsumers.Add(1)
		p.close(slog.LevelWarn, "closed: slow consumer", err, p.overBudget(ch, err)...)
	}
	return false
}

// overBudget is the log fields of a slow-consumer cut: what was queued
// against which budget, how long the writer had not taken from the queue,
// and how much pion still held unacknowledged against the channel's high
// water. A writer held back by the peer has sctp_buffered over high_water;
// one under it was not waiting for the peer at all.
func (p *peer) overBudget(ch *channel, err error) []any {
	var be *outbound.BudgetError
	if !errors.As(err, &be) {
		return nil
	}
	attrs := []any{"channel", ch.kind.String(), "queued_bytes", be.Queued, "queued_messages", be.Messages,
		"message_bytes", be.Size, "budget", be.Budget, "writer_idle", be.WriterIdle,
		"high_water", flow[ch.kind].highWater}
	p.mu.Lock()
	dc := ch.dc
	p.mu.Unlock()
	if dc != nil {
		attrs = append(attrs, "sctp_buffered", dc.BufferedAmount())
	}
	return attrs
}

// flushTimeout bounds how long a refused peer is kept open for its ERROR to
// reach it.
const flushTimeout = 2 * time.Second

// closeAfterFlush closes the peer once what its reliable queue holds (the
// ERROR that says why) has left and been acknowledged, or after
// flushTimeout.
func (p *peer) closeAfterFlush(msg string, cause error) {
	started := p.s.routines.Go(func() {
		deadline := time.NewTimer(flushTimeout)
		defer deadline.Stop()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for !p.flushed() {
			select {
			case <-deadline.C:
				p.close(slog.LevelInfo, msg, cause)
				return
			case <-tick.C:
			case <-p.ctx.Done():
				return
			}
		}
		p.close(slog.LevelInfo, msg, cause)
	})
	if !started {
		p.close(slog.LevelInfo, msg, cause)
	}
}

// flushed reports whether everything queued on the reliable channel has
// been handed to pion and acknowledged by the remote (pion's buffered
// amount drops as SACKs arrive).
func (p *peer) flushed() bool {
	ch := p.chans[reliable]
	if ch.q.Written() < ch.queued.Load() {
		return false
	}
	p.mu.Lock()
	dc := ch.dc
	p.mu.Unlock()
	return dc != nil && dc.BufferedAmount() == 0
}

// close ends the peer once, for the reason msg (logged at level with err);
// later calls do nothing. It never blocks: the teardown runs on its own
// goroutine, so a read loop may close another peer (a slow consumer).
func (p *peer) close(level slog.Level, msg string, err error, attrs ...any) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	pc := p.pc
	var rws []io.Closer
	for _, ch := range p.chans {
		if ch.rw != nil {
			rws = append(rws, ch.rw)
		}
	}
	p.mu.Unlock()

	p.cancel()
	p.establishing.Stop()
	for _, ch := range p.chans {
		ch.q.Close()
	}
	if err != nil {
		attrs = append([]any{"err", err}, attrs...)
	}
	p.log.Log(context.Background(), level, msg, attrs...)
	// Wakes a read loop waiting for the AUTH outcome.
	p.gate.settle(credentials{}, context.Canceled)

	// Not through routines: shutdown waits for teardowns (peerWG) before
	// it stops accepting goroutines, and a close racing with that must
	// still tear down.
	go p.teardown(pc, rws)
}

// teardown releases the peer's resources and forgets it.
func (p *peer) teardown(pc *webrtc.PeerConnection, rws []io.Closer) {
	for _, rw := range rws {
		_ = rw.Close()
	}
	if pc != nil {
		if err := pc.Close(); err != nil {
			p.log.Debug("close peer connection", "err", err)
		}
	}
	p.readers.Wait()
	p.s.forget(p)
	p.s.peerWG.Done()
}
