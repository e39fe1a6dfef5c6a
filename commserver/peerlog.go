package commserver

import (
	"context"
	"log/slog"

	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// A peer's log lines all carry its alias ("peer") and its role ("role"), so
// that filtering a server's log by one alias shows that peer's whole life:
// connect, auth, subscriptions, violations, close with the reason. The role
// is the one AUTH proved once it has passed, and until then the one the
// coordinator stamped on the CONNECT (a server link this server dialed is
// a server's). It is read at each line, so lines after AUTH carry the
// proven role without the logger being replaced under the peer's readers.

// serverRole is the role of lines about a server this one dials, before a
// peer exists for it.
var serverRole = protocol.Role_COMMUNICATION_SERVER.String()

// peerLogHandler adds the peer's current role to every record.
type peerLogHandler struct {
	slog.Handler
	p *peer
}

func (h peerLogHandler) Handle(ctx context.Context, r slog.Record) error {
	r.AddAttrs(slog.String("role", h.p.logRole().String()))
	return h.Handler.Handle(ctx, r)
}

func (h peerLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return peerLogHandler{Handler: h.Handler.WithAttrs(attrs), p: h.p}
}

func (h peerLogHandler) WithGroup(name string) slog.Handler {
	return peerLogHandler{Handler: h.Handler.WithGroup(name), p: h.p}
}

// newPeerLogger is the server's logger with the peer's alias and role.
func newPeerLogger(base *slog.Logger, p *peer) *slog.Logger {
	return slog.New(peerLogHandler{Handler: base.Handler(), p: p}).With("peer", p.alias)
}

// logRole is the role a peer's log lines carry: the authenticated one once
// AUTH passed, else the signaled one.
func (p *peer) logRole() protocol.Role {
	if p.gate.authorized() {
		return p.creds().role
	}
	if !p.offerer {
		return protocol.Role_COMMUNICATION_SERVER
	}
	return p.signaledRole
}
