package coordinator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/core/outbound"
	"github.com/webrtc-broker/webrtc-broker/core/relay"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// relayedTypes are the messages the coordinator passes from one peer to
// another. Everything else a peer sends it is a bad message.
var relayedTypes = []protocol.MessageType{
	protocol.MessageType_CONNECT,
	protocol.MessageType_WEBRTC_OFFER,
	protocol.MessageType_WEBRTC_ANSWER,
	protocol.MessageType_WEBRTC_ICE_CANDIDATE,
	protocol.MessageType_CONNECTION_REFUSED,
}

// maxBadMessages is how many bad messages a peer may send before it is
// closed: one is a bug worth a log line, ten is garbage.
const maxBadMessages = 10

// relayed is a decoded signaling message: its type, its target and the
// message itself, from_alias already stamped with the sender's real alias.
type relayed struct {
	typ protocol.MessageType
	to  uint64
	msg proto.Message
}

// decodeRelayed reads the header, then the full message of its type, and
// stamps from (and, on CONNECT, the sender's authenticated role). It never
// trusts the sender's from_alias or from_role.
func decodeRelayed(data []byte, from uint64, role protocol.Role) (relayed, error) {
	var hdr protocol.MessageHeader
	if err := proto.Unmarshal(data, &hdr); err != nil {
		return relayed{}, fmt.Errorf("decode header: %w", err)
	}
	r := relayed{typ: hdr.GetType()}
	switch r.typ {
	case protocol.MessageType_CONNECT:
		m := &protocol.ConnectMessage{}
		if err := proto.Unmarshal(data, m); err != nil {
			return r, fmt.Errorf("decode %s: %w", r.typ, err)
		}
		m.FromAlias, m.FromRole, r.to, r.msg = from, role, m.GetToAlias(), m
	case protocol.MessageType_WEBRTC_OFFER, protocol.MessageType_WEBRTC_ANSWER, protocol.MessageType_WEBRTC_ICE_CANDIDATE:
		m := &protocol.WebRtcMessage{}
		if err := proto.Unmarshal(data, m); err != nil {
			return r, fmt.Errorf("decode %s: %w", r.typ, err)
		}
		m.FromAlias, r.to, r.msg = from, m.GetToAlias(), m
	case protocol.MessageType_CONNECTION_REFUSED:
		m := &protocol.ConnectionRefusedMessage{}
		if err := proto.Unmarshal(data, m); err != nil {
			return r, fmt.Errorf("decode %s: %w", r.typ, err)
		}
		m.FromAlias, r.to, r.msg = from, m.GetToAlias(), m
	default:
		return r, fmt.Errorf("type %s: %w", r.typ, errUnknownType)
	}
	switch r.to {
	case 0:
		return r, fmt.Errorf("%s: %w", r.typ, errNoTarget)
	case from:
		return r, fmt.Errorf("%s: %w", r.typ, errSelfAddressed)
	}
	return r, nil
}

// handle relays one message from p. It runs on p's read loop.
func (c *Coordinator) handle(p *peer, data []byte) {
	if !p.limit.allow(time.Now()) {
		// Before decoding: a flood costs as little as it can.
		c.refuse(p, dropRateLimited, "over signal.rate", 0)
		return
	}
	if t, err := relay.ReadType(data); err == nil && c.handleReport(p, t, data) {
		return
	}
	r, err := decodeRelayed(data, p.alias, p.role)
	if err != nil {
		c.badMessage(p, err)
		return
	}
	target, ok := c.dir.lookup(r.to)
	if !ok {
		// Routine: the target may have left a moment ago.
		p.log.Debug("to_alias unknown, message dropped", "type", r.typ.String(), "to_alias", r.to)
		c.metrics.dropped.WithLabelValues(dropUnknownAlias).Inc()
		if r.typ == protocol.MessageType_CONNECT && p.isServer() {
			c.refuseGone(p, r.to)
		}
		return
	}
	if !p.isServer() && !target.isServer() {
		c.badMessage(p, fmt.Errorf("%s to %d: %w", r.typ, r.to, errClientTarget))
		return
	}
	out, err := proto.Marshal(r.msg)
	if err != nil {
		// Cannot happen for a message that just decoded; report it anyway.
		p.log.Error("encode relayed message", "type", r.typ.String(), "err", err)
		return
	}
	if !p.limit.fits(target, len(out)) {
		c.refuse(p, dropPairLimit, "over signal.pair_bytes queued towards to_alias", r.to)
		return
	}
	ticket, err := target.send(out)
	switch {
	case errors.Is(err, outbound.ErrSlowConsumer) && target.isServer():
		// Others' traffic filled the server's queue: refuse this message and
		// hold its sender to account, never close the server for it.
		c.refuse(p, dropReceiverFull, "to_alias's send queue is full", r.to)
		return
	case err != nil:
		reason := dropPeerGone
		if errors.Is(err, outbound.ErrSlowConsumer) {
			reason = dropSlowConsumer // and send closed the client
		}
		p.log.Debug("message dropped", "type", r.typ.String(), "to_alias", r.to, "err", err)
		c.metrics.dropped.WithLabelValues(reason).Inc()
		return
	}
	p.limit.queued(target, ticket, len(out))
	c.metrics.relayed.WithLabelValues(r.typ.String()).Inc()
	if p.log.Enabled(context.Background(), slog.LevelDebug) {
		// Who sent what to whom: a duplicated signal shows up here. The
		// check keeps the arguments from being built when debug is off.
		p.log.Debug("relayed", "type", r.typ.String(), "to_alias", r.to)
	}
	if r.typ == protocol.MessageType_CONNECT && !p.isServer() {
		if _, seen := p.signaled[r.to]; !seen {
			p.signaled[r.to] = struct{}{}
			c.dir.addLoad(r.to)
		}
	}
}

// badMessage drops a message the coordinator cannot or must not relay. The
// first one of a peer is a warning; the rest are debug lines, so a peer
// spewing garbage cannot flood the log, and at maxBadMessages it is closed.
func (c *Coordinator) badMessage(p *peer, err error) {
	p.bad++
	c.metrics.dropped.WithLabelValues(dropBadMessage).Inc()
	level := slog.LevelDebug
	if p.bad == 1 {
		level = slog.LevelWarn
	}
	p.log.Log(context.Background(), level, "bad message dropped", "err", err, "bad_messages", p.bad)
	if p.bad >= maxBadMessages {
		p.close(closeCause{level: slog.LevelWarn, reason: fmt.Sprintf("%d bad messages", p.bad), err: err,
			code: websocket.ClosePolicyViolation, kind: reasonBadMessages})
	}
}

// refuse drops a message that p may not relay now (reason is its
// messages_dropped_total label, why says it in words). The first refusal is
// an info line; a client that keeps going is cut with 1008 and a warning
// (see cutLevel), counted as reason signal_flood in
// coordinator_disconnects_total.
func (c *Coordinator) refuse(p *peer, reason, why string, to uint64) {
	c.metrics.dropped.WithLabelValues(reason).Inc()
	cut := p.limit.strike(time.Now())
	if p.limit.refused == 1 {
		attrs := []any{"why", why, "signal_rate", c.cfg.Signal.Rate, "signal_burst", c.cfg.Signal.Burst,
			"signal_pair_bytes", c.cfg.Signal.PairBytes}
		if to != 0 {
			attrs = append(attrs, "to_alias", to)
		}
		p.log.Info("signaling refused, message dropped", attrs...)
	}
	if cut {
		p.close(closeCause{level: c.cutLevel(),
			reason: fmt.Sprintf("signaling flood: %d messages refused (last: %s)", p.limit.refused, why),
			code:   websocket.ClosePolicyViolation, kind: reasonSignalFlood})
	}
}

// A burst of 10 warnings for cut flooders, then one a second; the others
// are debug lines. coordinator_disconnects_total{reason="signal_flood"}
// counts them all.
const (
	cutWarningRate  = 1
	cutWarningBurst = 10
)

// cutLevel is the level of the line for one more flooder cut.
func (c *Coordinator) cutLevel() slog.Level {
	c.cutWarnings.mu.Lock()
	defer c.cutWarnings.mu.Unlock()
	if c.cutWarnings.b.Allow(time.Now()) {
		return slog.LevelWarn
	}
	return slog.LevelDebug
}

// refuseGone answers a server's CONNECT to an alias that is not registered
// (any more) with a CONNECTION_REFUSED in that alias's name: a server that
// keeps re-dialing a lost link stops when its peer has left for good.
// Clients get nothing new (the 2019 protocol never sent them this).
func (c *Coordinator) refuseGone(p *peer, gone uint64) {
	out, err := proto.Marshal(&protocol.ConnectionRefusedMessage{
		Type: protocol.MessageType_CONNECTION_REFUSED, FromAlias: gone, ToAlias: p.alias,
		Reason: protocol.ConnectionRefusedReason_UNKNOWN_REASON, Data: []byte("no such peer"),
	})
	if err != nil {
		p.log.Error("encode CONNECTION_REFUSED", "err", err)
		return
	}
	if _, err := p.send(out); err != nil {
		p.log.Debug("CONNECTION_REFUSED not sent", "to_alias", gone, "err", err)
	}
}
