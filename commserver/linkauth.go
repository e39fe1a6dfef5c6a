package commserver

import (
	"context"
	"fmt"
	"log/slog"

	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/core/auth"
	"github.com/webrtc-broker/webrtc-broker/core/clusterauth"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// Both ends of a server link authenticate each other. The side that sent
// CONNECT writes AUTH first; the side that received it checks that AUTH,
// and only if it passes answers with its own, which the first side checks in
// turn. A server's AUTH carries, besides the auth plugin's credentials, a
// proof of cluster.secret bound to both ends' DTLS fingerprints
// (clusterauth.LinkProof), so that a process that registered with the
// coordinator by some other means, or that saw another link's AUTH, still
// cannot become a trusted server link: only server links may relay
// TOPIC_IDENTITY with an identity of their choosing.

// allowAll reports whether the server runs with the built-in allow-all,
// which vouches for nobody.
func (s *Server) allowAll() bool {
	_, ok := s.auth.(auth.AllowAll)
	return ok
}

// sendAuth queues this server's AUTH on a server link, the first message
// this side sends on it.
func (p *peer) sendAuth() error {
	s := p.s
	ctx, cancel := context.WithTimeout(p.ctx, s.cfg.Auth.Timeout)
	creds, err := s.auth.Credentials(ctx, s.role, auth.TargetServer)
	cancel()
	if err != nil {
		return fmt.Errorf("credentials for a server link: %w", err)
	}
	s.mu.Lock()
	secret, remote := s.proofSecret, p.srv.remoteFP
	s.mu.Unlock()
	am := &protocol.AuthMessage{Type: protocol.MessageType_AUTH, Role: s.role, Body: creds.Body, Features: localFeatures}
	if secret != "" {
		am.ClusterProof = clusterauth.LinkProof(secret, p.localFingerprint(), remote)
	}
	msg, err := proto.Marshal(am)
	if err != nil {
		return fmt.Errorf("encode AUTH: %w", err)
	}
	if !p.send(reliable, msg) {
		return errLinkClosed
	}
	s.m.sent(protocol.MessageType_AUTH, 1, len(msg))
	return nil
}

// writeAuth is sendAuth on the link this server answered (it sent the
// CONNECT): its AUTH goes first, and the link closes if it cannot.
func (p *peer) writeAuth() {
	if err := p.sendAuth(); err != nil {
		p.close(slog.LevelWarn, "closed: AUTH not sent", err)
	}
}

// checkServerAuth is what a server's AUTH must prove beyond what the
// authenticator said: cluster.secret when one is configured; with neither
// a secret nor an auth plugin nothing can vouch for a server, so the link is
// refused.
func (p *peer) checkServerAuth(msg []byte) error {
	s := p.s
	secret := s.cfg.Cluster.Secret
	if secret == "" {
		if s.allowAll() {
			return errNoLinkAuth
		}
		return nil // the auth plugin vouched for it
	}
	s.mu.Lock()
	remote := p.srv.remoteFP
	s.mu.Unlock()
	if !clusterauth.VerifyLinkProof(secret, remote, p.localFingerprint(), authProof(msg)) {
		return errNoClusterProof
	}
	return nil
}

// authProof returns the cluster_proof of an encoded AuthMessage, nil if it
// has none or is malformed (authenticate has decoded it already).
func authProof(b []byte) []byte {
	var am protocol.AuthMessage
	if err := proto.Unmarshal(b, &am); err != nil {
		return nil
	}
	return am.ClusterProof
}

// serverRefusal handles an ERROR that arrives where the AUTH of a server
// this server dialed was expected: that server refused this one's AUTH.
func (p *peer) serverRefusal(msg []byte) {
	var m protocol.ErrorMessage
	reason := "undecodable ERROR"
	if err := proto.Unmarshal(msg, &m); err == nil {
		reason = m.Code.String() + ": " + m.Reason
	}
	p.gate.settle(credentials{}, errLinkRefused)
	p.close(slog.LevelWarn, "closed: the server refused this server's AUTH", fmt.Errorf("%w: %s", errLinkRefused, reason))
}

// localFingerprint is this end's DTLS fingerprint as its SDP states it.
func (p *peer) localFingerprint() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.localFP
}

// setLocalFingerprint records it once the local description is set.
func (p *peer) setLocalFingerprint(sdp string) {
	p.mu.Lock()
	p.localFP = sdpFingerprint(sdp)
	p.mu.Unlock()
}
