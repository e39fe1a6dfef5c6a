package commserver

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/webrtc-broker/webrtc-broker/internal/rtc"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// The on* handlers (onWelcome, onConnect, onOffer, onAnswer, onCandidate,
// onRefused) and what they call (offer, answer, sendDescription) run on a
// coordinator link's read goroutine, which owns the signaling state
// (peer.sig) of every peer signaled over that link (peer.via), so each
// peer's offer, answer and candidates are handled in the order its
// coordinator relayed them. The rest runs elsewhere and touches no
// peer.sig: connected, trickle and the OnDataChannel callback on pion's
// goroutines, the iceStart timer's callback on its own, refuse from any of
// them; releaseSlotsLocked also on teardown (forget) and on a read loop
// (AUTH). See locks.go.

// maxRemoteCandidates bounds the candidates kept for a peer whose remote
// description has not arrived yet.
const maxRemoteCandidates = 64

// onWelcome records the new alias and dials every listed server this
// server is not linked to yet (mesh; star: the hub, or a hub's servers),
// until a link to each is up (links.go); servers it was dialing that the
// list no longer has are gone.
//
// With several coordinators the first WELCOME fixes the server's alias, and
// one under another alias is errOtherAlias: the session ends and registers
// again proposing the server's (coordmulti.go).
func (s *Server) onWelcome(l *coordLink, m *protocol.WelcomeMessage) error {
	if s.multiCoordinator() {
		if !s.alias.CompareAndSwap(0, m.Alias) && s.alias.Load() != m.Alias {
			err := fmt.Errorf("%w: alias %d, this server's is %d", errOtherAlias, m.Alias, s.alias.Load())
			if c := l.conn.Load(); c != nil && c.proposed != 0 {
				// It was proposed and not kept: a coordinator that
				// predates several coordinators. Back off, do not spin.
				err = fmt.Errorf("coordinator %s did not keep the proposed alias (update it): %w", l.url, errAliasIgnored)
			}
			return err
		}
	} else {
		s.alias.Store(m.Alias)
	}
	l.welcomed.Store(true)
	s.endFirstTry()
	s.m.coordConnected.Set(float64(s.coordinatorsUp()))
	s.log.Info("registered with the coordinator", "coordinator", l.url, "alias", m.Alias, "servers", len(m.AvailableServers))
	s.notifyLoad() // a new session: the coordinator may know nothing of this server

	listed := make(map[uint64]bool, len(m.AvailableServers))
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range m.AvailableServers {
		listed[a] = true
		s.servers[a] = struct{}{}
	}
	l.listed = listed
	s.reconcileDialingLocked()
	if s.natsMode() {
		// The coordinator lists no servers to a NATS server; one that does
		// (it predates transport=nats) is not obeyed.
		return nil
	}
	for _, a := range m.AvailableServers {
		if !s.linkedLocked(a) && !s.pendingLocked(a, time.Now()) {
			s.wantLinkLocked(a, "", false)
		}
	}
	return nil
}

// linkedLocked reports whether alias has a live link. Lock held on entry.
func (s *Server) linkedLocked(alias uint64) bool {
	if p := s.peers[alias]; p != nil && p.live() {
		return true
	}
	p := s.sameAs[alias]
	return p != nil && p.live()
}

// pendingLocked reports whether a CONNECT to alias is waiting for its offer.
// Lock held on entry.
func (s *Server) pendingLocked(alias uint64, now time.Time) bool {
	at, ok := s.pending[alias]
	if ok && now.Sub(at) > s.cfg.EstablishTimeout {
		delete(s.pending, alias)
		return false
	}
	return ok
}

// onConnect answers a CONNECT (from a client or a server) with an offer,
// unless the alias has a live peer already, or the server is full. fromRole
// is the role the coordinator authenticated the sender with (UNKNOWN_ROLE
// from a coordinator that does not stamp it).
func (s *Server) onConnect(l *coordLink, from uint64, fromRole protocol.Role) {
	own := s.alias.Load()
	if from == own {
		return
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return
	}
	if s.pendingLocked(from, time.Now()) {
		// Both sides sent CONNECT: the lower alias offers, the higher one
		// waits for that offer.
		if own > from {
			s.mu.Unlock()
			s.log.Debug("crossed CONNECT: waiting for the remote's offer", "peer", from, "role", fromRole.String())
			return
		}
		delete(s.pending, from)
	}
	if dup := s.sameAs[from]; dup != nil && dup.live() {
		s.mu.Unlock()
		s.refuse(l, from, protocol.ConnectionRefusedReason_UNKNOWN_REASON, errDuplicateLink.Error())
		return
	}
	old := s.peers[from]
	if old != nil && old.live() {
		s.mu.Unlock()
		old.log.Debug("CONNECT for a live peer ignored")
		return
	}
	_, isServer := s.servers[from]
	isServer = isServer || isServerRole(fromRole)
	if isServer && s.natsMode() {
		s.mu.Unlock()
		s.log.Warn("CONNECT from a server refused", "peer", from, "err", errNATSNoLinks)
		s.refuse(l, from, protocol.ConnectionRefusedReason_UNKNOWN_REASON, errNATSNoLinks.Error())
		return
	}
	if !isServer && s.draining.Load() {
		s.mu.Unlock()
		s.refuseDraining(l, from)
		return
	}
	if !isServer && s.cfg.MaxPeers > 0 && s.clientSlots >= s.cfg.MaxPeers {
		s.mu.Unlock()
		s.m.refusedFull.Inc()
		s.log.Info("CONNECT refused: server full", "peer", from, "role", fromRole.String(), "max_peers", s.cfg.MaxPeers)
		s.refuse(l, from, protocol.ConnectionRefusedReason_SERVER_FULL, "server full")
		return
	}
	if !isServer && s.halfOpen >= s.cfg.MaxHalfOpen {
		hint := s.setup.retryAfter()
		s.mu.Unlock()
		s.refuseBusy(l, from, fromRole, hint)
		return
	}
	p := s.newPeer(from, true, fromRole)
	p.via = l
	// A client takes a max_peers slot only once connected (see connected):
	// until then it is half-open, and a CONNECT alone costs no slot.
	p.srv.halfOpen = !isServer
	if p.srv.halfOpen {
		s.halfOpen++
		p.srv.connectAt = time.Now()
	}
	s.peers[from] = p
	s.mu.Unlock()
	p.log.Debug("CONNECT received, offering")
	p.sig.iceStart = time.AfterFunc(s.cfg.ICEStartTimeout, func() {
		if !p.answered.Load() {
			p.close(slog.LevelInfo, "closed: no answer to the offer", errICEStartTimeout)
		}
	})

	if old != nil {
		old.close(slog.LevelInfo, "closed: replaced by a new CONNECT", nil)
	}
	if err := s.offer(p); err != nil {
		p.close(slog.LevelWarn, "closed: offer failed", err)
	}
}

// connected moves a client from half-open to a max_peers slot once its
// DTLS is up. Half-open clients are not held to max_peers, so one that finds
// the server filled meanwhile is refused now.
func (p *peer) connected() {
	s := p.s
	s.mu.Lock()
	if !p.srv.halfOpen {
		s.mu.Unlock()
		return
	}
	p.srv.halfOpen = false
	s.halfOpen--
	s.setup.observe(time.Since(p.srv.connectAt))
	full := s.cfg.MaxPeers > 0 && s.clientSlots >= s.cfg.MaxPeers
	if !full {
		p.srv.clientSlot = true
		s.clientSlots++
	}
	s.mu.Unlock()
	if full {
		s.m.refusedFull.Inc()
		s.refuse(p.via, p.alias, protocol.ConnectionRefusedReason_SERVER_FULL, "server full")
		p.close(slog.LevelInfo, "closed: server full once connected", nil)
	}
}

// releaseSlotsLocked gives back what p counts against (max_peers,
// max_half_open): on its teardown, or when AUTH shows it is a server. Lock
// held on entry.
func (s *Server) releaseSlotsLocked(p *peer) {
	if p.srv.clientSlot {
		p.srv.clientSlot = false
		s.clientSlots--
	}
	if p.srv.halfOpen {
		p.srv.halfOpen = false
		s.halfOpen--
	}
}

// refuse tells from, through l's coordinator, that its CONNECT (or offer)
// is refused.
func (s *Server) refuse(l *coordLink, to uint64, reason protocol.ConnectionRefusedReason, text string) {
	err := s.signalVia(l, &protocol.ConnectionRefusedMessage{
		Type: protocol.MessageType_CONNECTION_REFUSED, FromAlias: s.alias.Load(), ToAlias: to,
		Reason: reason, Data: []byte(text),
	})
	if err != nil {
		s.log.Debug("CONNECTION_REFUSED not sent", "peer", to, "err", err)
	}
}

// offer makes the offering side of a link: the peer connection, both
// channels and the offer.
func (s *Server) offer(p *peer) error {
	pc, err := s.newPeerConnection(p)
	if err != nil || pc == nil {
		return err
	}
	relInit, unrelInit := rtc.ChannelInits()
	rel, err := pc.CreateDataChannel(rtc.LabelReliable, relInit)
	if err != nil {
		return fmt.Errorf("create %s channel: %w", rtc.LabelReliable, err)
	}
	unrel, err := pc.CreateDataChannel(rtc.LabelUnreliable, unrelInit)
	if err != nil {
		return fmt.Errorf("create %s channel: %w", rtc.LabelUnreliable, err)
	}
	p.attach(reliable, rel)
	p.attach(unreliable, unrel)
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return fmt.Errorf("create offer: %w", err)
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		return fmt.Errorf("set local description: %w", err)
	}
	p.setLocalFingerprint(offer.SDP)
	return s.sendDescription(p, protocol.MessageType_WEBRTC_OFFER, offer)
}

// onOffer answers the offer of a server this server sent CONNECT to. An
// error is a bad message from the coordinator (or from whoever sent it).
func (s *Server) onOffer(l *coordLink, from uint64, data []byte) error {
	s.mu.Lock()
	if !s.pendingLocked(from, time.Now()) {
		s.mu.Unlock()
		return fmt.Errorf("offer from %d: %w", from, errUnsolicitedOffer)
	}
	delete(s.pending, from)
	if s.closing || s.linkedLocked(from) {
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()

	sd, err := decodeSDP(data, webrtc.SDPTypeOffer)
	if err != nil {
		return fmt.Errorf("offer from %d: %w", from, err)
	}
	fp := sdpFingerprint(sd.SDP)
	s.mu.Lock()
	if dup := s.linkByFingerprintLocked(fp, nil); dup != nil {
		s.sameAs[from] = dup
		s.mu.Unlock()
		s.log.Info("offer refused: server already linked under another alias", "peer", from,
			"role", protocol.Role_COMMUNICATION_SERVER.String(), "linked_as", dup.alias)
		s.refuse(l, from, protocol.ConnectionRefusedReason_UNKNOWN_REASON, errDuplicateLink.Error())
		return nil
	}
	if s.closing {
		s.mu.Unlock()
		return nil
	}
	old := s.peers[from]
	p := s.newPeer(from, false, protocol.Role_COMMUNICATION_SERVER)
	p.via = l
	p.srv.remoteFP = fp
	s.peers[from] = p
	s.servers[from] = struct{}{}
	s.mu.Unlock()

	if old != nil {
		old.close(slog.LevelInfo, "closed: replaced by a new link", nil)
	}

	if err := s.answer(p, sd); err != nil {
		p.close(slog.LevelWarn, "closed: answer failed", err)
	}
	return nil
}

// answer makes the answering side of a server link: it takes the channels
// the remote created and writes AUTH first (linkauth.go).
func (s *Server) answer(p *peer, offer webrtc.SessionDescription) error {
	pc, err := s.newPeerConnection(p)
	if err != nil || pc == nil {
		return err
	}
	pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		kind, ok := kindOf(dc.Label())
		if !ok {
			_ = dc.Close()
			p.violate(reliable, protocol.MessageType_UNKNOWN_MESSAGE_TYPE, fmt.Errorf("%w: data channel %q", errBadChannel, dc.Label()))
			return
		}
		p.attach(kind, dc)
	})
	if err := pc.SetRemoteDescription(offer); err != nil {
		return fmt.Errorf("set remote description: %w", err)
	}
	p.sig.remoteSet = true
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("create answer: %w", err)
	}
	if err := pc.SetLocalDescription(answer); err != nil {
		return fmt.Errorf("set local description: %w", err)
	}
	p.setLocalFingerprint(answer.SDP)
	if err := s.sendDescription(p, protocol.MessageType_WEBRTC_ANSWER, answer); err != nil {
		return err
	}
	// The credentials may come from a plugin: fetch them off the signaling
	// goroutine. AUTH is queued before anything else can be (the gate is
	// not open until the remote's AUTH has passed), so it is the first
	// message on the channel.
	s.routines.Go(func() { p.writeAuth() })
	return nil
}

// onAnswer applies a client's or a server's answer to this server's offer.
func (s *Server) onAnswer(l *coordLink, from uint64, data []byte) error {
	p := s.peerByAlias(from)
	if p == nil || p.via != l || !p.offerer || p.sig.remoteSet {
		// Routine: the peer may have been closed a moment ago.
		s.log.Debug("answer dropped: no offer waiting for it", "peer", from)
		return nil
	}
	sd, err := decodeSDP(data, webrtc.SDPTypeAnswer)
	if err != nil {
		return fmt.Errorf("answer from %d: %w", from, err)
	}
	fp := sdpFingerprint(sd.SDP)
	s.mu.Lock()
	dup := s.linkByFingerprintLocked(fp, p)
	if dup == nil {
		p.srv.remoteFP = fp
	} else {
		// The remote answered, so it does not count the link there is
		// (it already closed its end, or that end is still being made
		// there): this side keeps that link and the duty to dial the
		// server's new alias once it ends (forget), as onOffer does.
		s.sameAs[from] = dup
	}
	s.mu.Unlock()
	if dup != nil {
		p.close(slog.LevelInfo, "closed: duplicate of the link made under alias "+fmt.Sprint(dup.alias), errDuplicateLink)
		// The remote's end of this link would wait for ICE that never
		// comes and, live, hold off every CONNECT until establish_timeout
		// (onConnect): the refusal closes it (onRefused).
		s.refuse(l, from, protocol.ConnectionRefusedReason_UNKNOWN_REASON, errDuplicateLink.Error())
		return nil
	}
	pc := p.peerConnection()
	if pc == nil {
		return nil
	}
	if err := pc.SetRemoteDescription(sd); err != nil {
		p.close(slog.LevelWarn, "closed: bad answer", err)
		return nil
	}
	p.sig.remoteSet = true
	p.answered.Store(true)
	if p.sig.iceStart != nil {
		p.sig.iceStart.Stop()
	}
	for _, c := range p.sig.remoteCands {
		if err := pc.AddICECandidate(c); err != nil {
			p.log.Debug("remote ICE candidate not added", "err", err)
		}
	}
	p.sig.remoteCands = nil
	return nil
}

// onCandidate adds a remote ICE candidate, or keeps it until the remote
// description is set. In loopback-only mode, non-loopback candidates are
// ignored.
func (s *Server) onCandidate(l *coordLink, from uint64, data []byte) error {
	p := s.peerByAlias(from)
	if p == nil || p.via != l {
		// Unknown here, or signaled over another coordinator's link.
		s.log.Debug("ICE candidate dropped: unknown peer", "peer", from)
		return nil
	}
	c, err := rtc.DecodeCandidate(data)
	if err != nil {
		return fmt.Errorf("ICE candidate from %d: %w", from, err)
	}
	if !s.api.AcceptCandidate(c) {
		p.log.Debug("ICE candidate ignored (loopback only)", "candidate", c.Candidate)
		return nil
	}
	if !p.sig.remoteSet {
		if len(p.sig.remoteCands) < maxRemoteCandidates {
			p.sig.remoteCands = append(p.sig.remoteCands, c)
		}
		return nil
	}
	if pc := p.peerConnection(); pc != nil {
		if err := pc.AddICECandidate(c); err != nil {
			p.log.Debug("remote ICE candidate not added", "err", err)
		}
	}
	return nil
}

// decodeSDP parses an offer's or answer's JSON and checks its type.
func decodeSDP(data []byte, want webrtc.SDPType) (webrtc.SessionDescription, error) {
	sd, err := rtc.DecodeSDP(data)
	if err != nil {
		return sd, err
	}
	if sd.Type != want {
		return sd, fmt.Errorf("%w: SDP type %q, want %q", errMalformed, sd.Type, want)
	}
	return sd, nil
}

// onRefused handles a CONNECTION_REFUSED: the remote will not link with us,
// for the CONNECT we sent it or for our offer.
//
// With several coordinators, a refusal through one coordinator (it does not
// have that server) leaves the others to try: the dial loop goes on over
// another link while one may still reach the server.
func (s *Server) onRefused(l *coordLink, m *protocol.ConnectionRefusedMessage) {
	s.mu.Lock()
	_, wasPending := s.pending[m.FromAlias]
	delete(s.pending, m.FromAlias)
	p := s.peers[m.FromAlias]
	if p != nil && p.via != l {
		p = nil // not the link this peer is signaled over
	}
	if !s.refusedByLocked(l, m.FromAlias) {
		s.giveUpLocked(m.FromAlias, "refused: "+string(m.Data))
	}
	s.mu.Unlock()
	if wasPending {
		// Routine: the server is linked already, or gone.
		s.log.Info("CONNECT refused by a server", "peer", m.FromAlias, "role", serverRole, "reason", m.Reason.String(), "data", string(m.Data))
	}
	// A refused offer ends its peer; a duplicate refusal also ends the peer
	// this server made answering the remote's offer (the remote found the
	// link it has with this server and closed its end, onAnswer). Never
	// an established link: a refusal is about an attempt, and one that
	// came late must not end what replaced it.
	if p != nil && !p.isEstablished() && (p.offerer || duplicateRefusal(m)) {
		p.close(slog.LevelInfo, "closed: refused by the remote", fmt.Errorf("%v: %s", m.Reason, m.Data))
	}
}

// duplicateRefusal reports whether m is a server's refusal of a duplicate
// link (errDuplicateLink's text is what identifies it on the wire).
func duplicateRefusal(m *protocol.ConnectionRefusedMessage) bool {
	return m.Reason == protocol.ConnectionRefusedReason_UNKNOWN_REASON && string(m.Data) == errDuplicateLink.Error()
}

// peerByAlias returns the peer linked under alias, if any.
func (s *Server) peerByAlias(alias uint64) *peer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peers[alias]
}

// linkByFingerprintLocked returns a live server link other than except
// whose remote presented fingerprint fp. Lock held on entry.
func (s *Server) linkByFingerprintLocked(fp string, except *peer) *peer {
	if fp == "" {
		return nil
	}
	for _, p := range s.peers {
		if p != except && p.srv.remoteFP == fp && (p.isServerLink() || !p.offerer) && p.live() {
			return p
		}
	}
	return nil
}

// newPeerConnection creates the peer's connection with the server's
// certificate and wires the callbacks every link has: trickled ICE
// candidates and connection failure. A nil connection with a nil error
// means the peer was closed meanwhile.
func (s *Server) newPeerConnection(p *peer) (*webrtc.PeerConnection, error) {
	cert, err := s.certs.get()
	if err != nil {
		return nil, err
	}
	pc, err := s.api.NewPeerConnection(cert)
	if err != nil {
		return nil, err
	}
	if !p.setPC(pc) {
		_ = pc.Close()
		return nil, nil
	}
	p.logSelectedPair(pc)
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			return // gathering complete
		}
		// What this end offers: the lab tests read it to check the ports
		// and the advertised (NAT 1:1) address.
		p.log.Debug("local candidate", "type", c.Typ.String(), "protocol", c.Protocol.String(),
			"address", c.Address, "port", c.Port)
		data, err := json.Marshal(c.ToJSON())
		if err != nil {
			p.log.Error("encode ICE candidate", "err", err)
			return
		}
		p.trickle(data)
	})
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateConnected:
			p.log.Debug("connection state", "state", st.String())
			p.connected()
		case webrtc.PeerConnectionStateFailed:
			p.close(slog.LevelInfo, "closed: connection failed", nil)
		case webrtc.PeerConnectionStateClosed:
			p.close(slog.LevelDebug, "closed: connection closed", nil)
		default:
			p.log.Debug("connection state", "state", st.String())
		}
	})
	return pc, nil
}

// sendDescription sends our offer or answer, then the candidates gathered
// before it left: a candidate must never reach the remote before the
// description it belongs to.
func (s *Server) sendDescription(p *peer, t protocol.MessageType, sd webrtc.SessionDescription) error {
	data, err := json.Marshal(sd)
	if err != nil {
		return fmt.Errorf("encode %v: %w", t, err)
	}
	if err := s.signalVia(p.via, &protocol.WebRtcMessage{Type: t, FromAlias: s.alias.Load(), ToAlias: p.alias, Data: data}); err != nil {
		return fmt.Errorf("send %v: %w", t, err)
	}
	p.cand.mu.Lock()
	p.cand.descSent = true
	held := p.cand.held
	p.cand.held = nil
	p.cand.mu.Unlock()
	for _, c := range held {
		p.sendCandidate(c)
	}
	return nil
}

// trickle sends a local candidate, or holds it until the description is
// sent. It runs on pion's goroutines (OnICECandidate).
func (p *peer) trickle(data []byte) {
	p.cand.mu.Lock()
	if !p.cand.descSent {
		p.cand.held = append(p.cand.held, data)
		p.cand.mu.Unlock()
		return
	}
	p.cand.mu.Unlock()
	p.sendCandidate(data)
}

func (p *peer) sendCandidate(data []byte) {
	err := p.s.signalVia(p.via, &protocol.WebRtcMessage{
		Type: protocol.MessageType_WEBRTC_ICE_CANDIDATE, FromAlias: p.s.alias.Load(), ToAlias: p.alias, Data: data,
	})
	if err != nil {
		p.log.Debug("ICE candidate not sent", "err", err)
	}
}
