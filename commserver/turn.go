package commserver

import (
	"context"
	"fmt"

	"github.com/pion/webrtc/v3"

	"github.com/webrtc-broker/webrtc-broker/internal/turn"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// The embedded TURN server (turn.enabled) runs for as long as Run does.
// Its URLs reach the clients through the coordinator: this server lists
// them in turncred.Header when it registers, and the coordinator adds them,
// with credentials it mints from the shared turn.secret, to the WELCOME of
// every client it offers this server to.

// startTURN starts the embedded TURN server when it is enabled; it stops
// when ctx is done.
func (s *Server) startTURN(ctx context.Context) error {
	if !s.cfg.TURN.Enabled {
		return nil
	}
	ts, err := turn.Start(ctx, s.cfg.TURN, turn.Options{Logger: s.log, AllowLoopbackPeers: s.cfg.WebRTC.LoopbackOnly})
	if err != nil {
		return fmt.Errorf("commserver: %w", err)
	}
	s.turn = ts
	return nil
}

// TURNServers lists the embedded TURN server's URLs (no credentials: the
// coordinator mints them), for LOAD_REPORT.ice_servers; nil when it is off
// or Run has not started it.
func (s *Server) TURNServers() []*protocol.IceServer {
	if s.turn == nil {
		return nil
	}
	return []*protocol.IceServer{{Urls: s.turn.URLs()}}
}

// turnURLs is what this server lists in turncred.Header.
func (s *Server) turnURLs() []string {
	if s.turn == nil {
		return nil
	}
	return s.turn.URLs()
}

// logSelectedPair logs the ICE candidate pair a peer's connection uses,
// once chosen: "relay" on either side means the link goes through TURN.
func (p *peer) logSelectedPair(pc *webrtc.PeerConnection) {
	pc.SCTP().Transport().ICETransport().OnSelectedCandidatePairChange(func(pair *webrtc.ICECandidatePair) {
		if pair == nil || pair.Local == nil || pair.Remote == nil {
			return
		}
		p.log.Debug("ICE candidate pair selected",
			"local_type", pair.Local.Typ.String(), "local", fmt.Sprintf("%s:%d/%s", pair.Local.Address, pair.Local.Port, pair.Local.Protocol),
			"remote_type", pair.Remote.Typ.String(), "remote", fmt.Sprintf("%s:%d/%s", pair.Remote.Address, pair.Remote.Port, pair.Remote.Protocol))
	})
}
