package commserver

import (
	"time"

	"github.com/webrtc-broker/webrtc-broker/core/backoff"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// Server links heal. Whatever ends a link to another server (a violation, a
// write error, an ICE failure, a network blip), the side that sent the
// link's CONNECT dials that server again, with capped, jittered backoff,
// until a link is up again, the server refuses, or it has left the
// coordinator (the coordinator answers a CONNECT to an alias it no longer
// has with CONNECTION_REFUSED, and a later WELCOME no longer lists it). The
// other side only waits for the CONNECT, so the two do not dial each other
// at once (except after a coordinator restart, see linkLostLocked; crossed
// CONNECTs are resolved in onConnect). The same loop makes the first link to every server a WELCOME lists,
// so a first attempt that fails is retried too.

// One link per pair of servers, across alias changes. A server's DTLS
// fingerprint names it under every alias (certificate.go). The side that
// finds an offer (onOffer) or an answer (onAnswer) under a new alias to come
// from a server it has a link with, up or being made, or a CONNECT from an
// alias it knows as such (onConnect), refuses it as a duplicate
// (errDuplicateLink) and records the alias in sameAs. The refusal closes the
// other side's end of the attempt (onRefused), so that no half-open peer
// there holds off the CONNECTs that come later, and stops that side dialing
// the alias; the refusing side takes over: once the link it kept ends,
// authenticated or not (forget), it dials the newer alias, the server's
// current one, besides the old.

// lostMemory is how long a lost link is remembered, so that the link that
// replaces it counts as restored.
const lostMemory = time.Hour

// dialTarget is one server alias this server is dialing: the key of
// Server.dialing, whose entry is replaced or removed to stop its loop.
type dialTarget struct {
	alias uint64
	fp    string // the server's DTLS fingerprint, when a lost link told it
	// gone holds the coordinator links that refused a CONNECT to alias
	// (coordmulti.go); Server.mu guards it.
	gone map[*coordLink]bool
}

// wantLinkLocked makes sure a dial loop runs for alias, unless a link to it
// is up. afterLoss delays the first CONNECT by a backoff step, so that the
// remote has a moment to notice the loss too. Server.mu held on entry.
func (s *Server) wantLinkLocked(alias uint64, fp string, afterLoss bool) {
	if s.closing || alias == s.alias.Load() || s.dialing[alias] != nil || s.serverLinkedLocked(alias, fp) {
		return
	}
	d := &dialTarget{alias: alias, fp: fp}
	s.dialing[alias] = d
	if !s.routines.Go(func() { s.dialLoop(d, afterLoss) }) {
		delete(s.dialing, alias)
	}
	s.m.redials.Set(float64(len(s.dialing)))
}

// stopDialingLocked ends alias's dial loop, if one runs. Server.mu held on
// entry.
func (s *Server) stopDialingLocked(alias uint64) bool {
	if s.dialing[alias] == nil {
		return false
	}
	delete(s.dialing, alias)
	s.m.redials.Set(float64(len(s.dialing)))
	return true
}

// dialLoop sends d's server a CONNECT whenever no link to it is up or being
// made, waiting a backoff step between tries, until a link is authenticated
// or the loop is stopped.
func (s *Server) dialLoop(d *dialTarget, wait bool) {
	b := backoff.Backoff{Min: s.cfg.Reconnect.Min, Max: s.cfg.Reconnect.Max}
	defer func() {
		s.mu.Lock()
		if s.dialing[d.alias] == d {
			s.stopDialingLocked(d.alias)
		}
		s.mu.Unlock()
	}()
	for {
		if wait {
			if !backoff.Wait(s.ctx.Done(), b.Next()) {
				return
			}
		}
		wait = true
		s.mu.Lock()
		switch {
		case s.closing || s.dialing[d.alias] != d || s.serverLinkedLocked(d.alias, d.fp):
			s.mu.Unlock()
			return
		case s.peers[d.alias] != nil && s.peers[d.alias].live():
			// A link is being made: its outcome decides.
			s.mu.Unlock()
			continue
		}
		l := s.linkForLocked(d)
		if l == nil {
			s.mu.Unlock()
			s.log.Debug("CONNECT to a server not sent", "peer", d.alias, "role", serverRole, "err", errCoordinatorDown)
			continue
		}
		s.pending[d.alias] = time.Now()
		s.mu.Unlock()
		err := s.signalVia(l, &protocol.ConnectMessage{Type: protocol.MessageType_CONNECT, FromAlias: s.alias.Load(), ToAlias: d.alias})
		if err != nil {
			s.log.Debug("CONNECT to a server not sent", "peer", d.alias, "role", serverRole, "err", err)
			continue
		}
		s.log.Debug("CONNECT sent", "peer", d.alias, "role", serverRole)
	}
}

// serverLinkedLocked reports whether an authenticated link to the server
// under alias, or to the server with DTLS fingerprint fp, is up. Server.mu
// held on entry.
func (s *Server) serverLinkedLocked(alias uint64, fp string) bool {
	for _, p := range []*peer{s.peers[alias], s.sameAs[alias]} {
		if p != nil && p.isServerLink() && p.live() {
			return true
		}
	}
	if fp == "" {
		return false
	}
	for _, p := range s.peers {
		if p.srv.remoteFP == fp && p.isServerLink() && p.live() {
			return true
		}
	}
	return false
}

// linkLostLocked records that p, an authenticated server link, is gone
// while the server runs, and dials again every alias of that server this
// server had sent CONNECT to: p's own if this side dialed it, and newer
// ones (sameAs: the server re-registered, this server dialed it under its
// new alias and found the link it had). Either end may hold those newer
// aliases, so both may dial; crossed CONNECTs resolve as ever (onConnect).
// Server.mu held on entry.
func (s *Server) linkLostLocked(p *peer, newer []uint64) {
	now := time.Now()
	for fp, at := range s.lost {
		if now.Sub(at) > lostMemory {
			delete(s.lost, fp)
		}
	}
	if p.srv.remoteFP != "" {
		s.lost[p.srv.remoteFP] = now
	}
	s.m.linksLost.Inc()
	p.log.Warn("server link lost", "redial", !p.offerer || len(newer) > 0)
	if !p.offerer {
		s.wantLinkLocked(p.alias, p.srv.remoteFP, true)
	}
	for _, a := range newer {
		s.wantLinkLocked(a, p.srv.remoteFP, true)
	}
}

// linkUpLocked counts p, a server link that just authenticated, as restored
// if it replaces a lost one. Server.mu held on entry.
func (s *Server) linkUpLocked(p *peer) {
	at, ok := s.lost[p.srv.remoteFP]
	if !ok || p.srv.remoteFP == "" {
		return
	}
	delete(s.lost, p.srv.remoteFP)
	s.m.linksRestored.Inc()
	p.log.Info("server link restored", "down_for", time.Since(at).Round(time.Millisecond))
}

// giveUpLocked stops dialing alias after a CONNECTION_REFUSED from it (or
// from the coordinator for it: it has left). Server.mu held on entry.
func (s *Server) giveUpLocked(alias uint64, why string) {
	if s.stopDialingLocked(alias) {
		s.log.Info("no longer dialing a server", "peer", alias, "role", serverRole, "reason", why)
	}
}

// reconcileDialingLocked stops dialing the servers that no coordinator's
// latest WELCOME lists: they are gone. Server.mu held on entry.
func (s *Server) reconcileDialingLocked() {
	for a := range s.dialing {
		if !s.listedLocked(a) {
			s.giveUpLocked(a, "not in the coordinator's server list")
		}
	}
}
