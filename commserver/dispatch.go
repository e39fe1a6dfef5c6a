package commserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/core/relay"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// maxViolations is how many protocol violations a peer may commit before it
// is closed: a stray bad message is dropped, a stream of them ends the link.
const maxViolations = 10

// authGrace is how long a message on the unreliable channel waits for AUTH
// to arrive on the reliable one before the peer is refused.
const authGrace = time.Second

// handle processes one data-channel message on the channel's read loop. msg
// is the loop's read buffer: whatever outlives the call is copied.
func (p *peer) handle(ch *channel, msg []byte) {
	if p.refusing.Load() {
		return
	}
	t, perr := relay.ReadType(msg)
	if !p.gate.authorized() && !p.admit(ch, msg, t) {
		return
	}
	if perr != nil {
		p.violate(ch.kind, t, fmt.Errorf("%w: %w", errMalformed, perr))
		return
	}
	p.s.m.received(t)
	switch t {
	case protocol.MessageType_PING:
		// Echoed unchanged, on the channel it came on.
		p.send(ch.kind, slices.Clone(msg))
		p.s.m.sent(t, 1, len(msg))
	case protocol.MessageType_SUBSCRIPTION:
		p.subscribe(ch.kind, msg)
	case protocol.MessageType_TOPIC, protocol.MessageType_TOPIC_IDENTITY:
		p.publish(ch.kind, t, msg)
	case protocol.MessageType_BATCH:
		p.handleBatch(ch, msg)
	case protocol.MessageType_PRESENCE_REQUEST:
		p.requestPresence(ch.kind, msg)
	case protocol.MessageType_ERROR:
		if !p.creds().isServer() {
			p.violate(ch.kind, t, errUnexpected)
			return
		}
		var m protocol.ErrorMessage
		if err := proto.Unmarshal(msg, &m); err == nil {
			p.log.Warn("server link reported an error", "code", m.Code.String(), "topic", m.Topic, "reason", m.Reason)
		}
	default:
		p.violate(ch.kind, t, errUnexpected)
	}
}

// admit runs before the peer is authorized. On either side the first
// message of the reliable channel is the AUTH step (authStep); anything
// else waits for its outcome and is processed only if it succeeds. It reports whether msg
// is to be processed as an ordinary message.
func (p *peer) admit(ch *channel, msg []byte, t protocol.MessageType) bool {
	if ch.kind == reliable {
		if p.gate.settled() {
			return false // refused or closed
		}
		p.gate.begin()
		p.authStep(msg, t)
		return false
	}
	grace := authGrace
	if !p.offerer {
		// This side wrote AUTH first; the remote's comes only once the
		// remote has checked ours, and may be preceded here by what the
		// remote sends once it has.
		grace = p.s.cfg.EstablishTimeout
	}
	if _, err := p.gate.wait(p.ctx, grace); err != nil {
		if errors.Is(err, errBeforeAuth) {
			p.authDone(credentials{}, fmt.Errorf("%w: %v on the %s channel", errBeforeAuth, t, ch.kind))
		}
		return false
	}
	return true
}

// authStep checks the remote's AUTH, the first message of the reliable
// channel, on either side of a link. On a link this server dialed the
// remote is the server the coordinator listed: its AUTH must be a server's
// (an ERROR there is its refusal of ours). A server's AUTH must also prove
// the cluster (checkServerAuth), and the side that received CONNECT answers
// a server's accepted AUTH with its own before the gate opens.
func (p *peer) authStep(msg []byte, t protocol.MessageType) {
	s := p.s
	signaled := p.signaledRole
	if !p.offerer {
		if t == protocol.MessageType_ERROR {
			p.serverRefusal(msg)
			return
		}
		signaled = protocol.Role_COMMUNICATION_SERVER
	}
	c, err := authenticate(p.ctx, s.auth, s.cfg.Auth.Timeout, signaled, msg)
	if err == nil && c.isServer() && s.natsMode() {
		err = errNATSNoLinks
	}
	if err == nil && c.isServer() {
		err = p.checkServerAuth(msg)
	}
	if err == nil && c.isServer() && p.offerer {
		if err = p.sendAuth(); err != nil {
			p.gate.settle(credentials{}, err)
			p.close(slog.LevelWarn, "closed: AUTH not sent", err)
			return
		}
	}
	p.authDone(c, err)
}

// authDone settles the AUTH step: on success the peer joins the server, on
// failure it gets an ERROR{ERROR_AUTH_FAILED} and is closed.
func (p *peer) authDone(c credentials, err error) {
	if err != nil {
		if !p.gate.settle(credentials{}, err) {
			return
		}
		p.refusing.Store(true)
		p.s.m.authFailures.Inc()
		p.log.Warn("auth failed", "err", err)
		p.sendError(protocol.ErrorCode_ERROR_AUTH_FAILED, "", authReason(err))
		p.closeAfterFlush("closed: auth failed", err)
		return
	}
	// Counted before the gate opens: whoever sees the peer authenticated
	// (Stats, the cluster harness's WaitReady) sees it in the peers gauge
	// too. (Counted after, a reader at the wrong moment under load saw a
	// server link in Stats and none in the gauge: TestNoDoubleLinks.)
	p.s.m.peerUp(c.role)
	if !p.gate.settle(c, nil) {
		p.s.m.peerDown(c.role) // closed meanwhile: forget does not count it down
		return
	}
	if c.batch {
		p.startBatching()
	}
	s := p.s
	s.mu.Lock()
	if c.isServer() {
		s.servers[p.alias] = struct{}{}
		s.linkUpLocked(p)
		s.releaseSlotsLocked(p)
	}
	s.mu.Unlock()
	p.log.Debug("authenticated", "identity_bytes", len(c.identity))
	if c.isServer() {
		s.notifyAnnounce()
	} else {
		if s.policy != nil {
			s.policy.OnConnect(p.policyPeer())
		}
		p.tellDraining(c)
	}
	p.checkEstablished()
}

// violate drops a bad message: counted, logged (the peer's first at warn,
// the rest at debug, so a peer spewing garbage cannot flood the log),
// answered with a rate-limited ERROR, and after maxViolations the peer is
// closed. Other peers are not affected.
func (p *peer) violate(kind chanKind, t protocol.MessageType, err error) {
	n := p.bad.Add(1)
	p.s.m.violations.Inc()
	level := slog.LevelDebug
	if n == 1 {
		level = slog.LevelWarn
	}
	p.log.Log(context.Background(), level, "bad message dropped",
		"channel", kind.String(), "type", t.String(), "err", err, "violations", n)
	if n >= maxViolations {
		p.close(slog.LevelWarn, fmt.Sprintf("closed: %d protocol violations", n), err)
		return
	}
	if p.errLimit.allow() {
		p.sendError(protocol.ErrorCode_ERROR_PROTOCOL_VIOLATION, "", err.Error())
	}
}

// sendError queues an ERROR on the reliable channel.
func (p *peer) sendError(code protocol.ErrorCode, topic, reason string) {
	msg, err := proto.Marshal(&protocol.ErrorMessage{
		Type: protocol.MessageType_ERROR, Code: code, Topic: topic, Reason: reason,
	})
	if err != nil {
		p.log.Error("encode ERROR", "err", err)
		return
	}
	if p.send(reliable, msg) {
		p.s.m.sent(protocol.MessageType_ERROR, 1, len(msg))
	}
}
