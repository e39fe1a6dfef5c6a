package commserver

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/core/auth"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// credentials is who a peer is, as authentication established it. It is
// never taken from a client's message fields.
type credentials struct {
	role     protocol.Role
	identity []byte
	// batch: the AUTH listed FEATURE_BATCH, so the peer is sent batches.
	batch bool
	// drain: the peer declared FEATURE_DRAIN (it is sent DRAIN).
	drain bool
}

// isServer reports whether the peer is a link to another communication
// server (hub included).
func (c credentials) isServer() bool { return isServerRole(c.role) }

func isServerRole(r protocol.Role) bool {
	return r == protocol.Role_COMMUNICATION_SERVER || r == protocol.Role_COMMUNICATION_SERVER_HUB
}

// authenticate is the AUTH step: msg is the first message of the reliable
// channel. It returns the peer's credentials, or an error wrapping
// errNotAuth, errMalformed, errAuthRole, errAuthDenied (with the
// authenticator's reason) or errAuthUnavailable. The authenticator's call is
// bounded by timeout. signaled is the role the coordinator authenticated the
// remote with: an AUTH that claims to be a server from a client's CONNECT (or
// the reverse) is refused before the authenticator is asked, so a client
// cannot become a trusted server link even under the built-in allow-all.
func authenticate(ctx context.Context, a auth.Authenticator, timeout time.Duration, signaled protocol.Role, msg []byte) (credentials, error) {
	var m protocol.AuthMessage
	if err := proto.Unmarshal(msg, &m); err != nil {
		return credentials{}, fmt.Errorf("%w: %w", errMalformed, err)
	}
	if m.Type != protocol.MessageType_AUTH {
		return credentials{}, fmt.Errorf("%w, got %v", errNotAuth, m.Type)
	}
	switch m.Role {
	case protocol.Role_CLIENT, protocol.Role_COMMUNICATION_SERVER, protocol.Role_COMMUNICATION_SERVER_HUB:
	default:
		return credentials{}, fmt.Errorf("%w, got %v", errAuthRole, m.Role)
	}
	if signaled != protocol.Role_UNKNOWN_ROLE && isServerRole(signaled) != isServerRole(m.Role) {
		return credentials{}, fmt.Errorf("%w: AUTH claims %v, the coordinator authenticated %v", errRoleMismatch, m.Role, signaled)
	}
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, err := a.Authenticate(actx, auth.Request{Role: m.Role, Body: m.Body})
	if err != nil {
		return credentials{}, fmt.Errorf("%w: %w", errAuthUnavailable, err)
	}
	if !res.Allow {
		reason := res.Reason
		if reason == "" {
			reason = "no reason given"
		}
		return credentials{}, fmt.Errorf("%w: %s", errAuthDenied, reason)
	}
	identity := res.Identity
	if identity == nil {
		identity = []byte{}
	}
	return credentials{role: m.Role, identity: identity, batch: hasBatch(m.Features),
		drain: slices.Contains(m.Features, protocol.Feature_FEATURE_DRAIN)}, nil
}

// authReason is the text an ERROR{ERROR_AUTH_FAILED} carries: the
// authenticator's reason for a deny, and no internals for a failure.
func authReason(err error) string {
	switch {
	case errors.Is(err, errAuthUnavailable):
		return errAuthUnavailable.Error()
	default:
		return err.Error()
	}
}

// authGate is where a peer's two read loops meet the outcome of the AUTH
// step. The reliable loop runs the step (begin, then settle); the unreliable
// loop, should a message arrive there first, waits for it (wait), because
// the two channels are read by separate goroutines and a client that writes
// AUTH and then publishes at once may be read in the other order.
//
// Ownership: started and done are closed once each (by begin and settle);
// creds and err are written by settle before done is closed and read only
// after it.
type authGate struct {
	beginOnce  sync.Once
	settleOnce sync.Once
	started    chan struct{}
	done       chan struct{}
	creds      credentials
	err        error
}

func newAuthGate() *authGate {
	return &authGate{started: make(chan struct{}), done: make(chan struct{})}
}

// begin records that the AUTH message has arrived and is being checked.
func (g *authGate) begin() { g.beginOnce.Do(func() { close(g.started) }) }

// settle records the outcome; only the first call counts. It reports whether
// this call settled the gate.
func (g *authGate) settle(c credentials, err error) (first bool) {
	g.settleOnce.Do(func() {
		g.begin()
		g.creds, g.err = c, err
		close(g.done)
		first = true
	})
	return first
}

// settled reports whether the outcome is known.
func (g *authGate) settled() bool {
	select {
	case <-g.done:
		return true
	default:
		return false
	}
}

// authorized reports whether the gate settled with success.
func (g *authGate) authorized() bool { return g.settled() && g.err == nil }

// wait blocks until the outcome is known. If no AUTH has arrived within
// grace, it gives up with errBeforeAuth: a peer that sends on the
// unreliable channel without ever sending AUTH is refused promptly rather
// than at the establish time-out. ctx ends the wait with ctx's error.
func (g *authGate) wait(ctx context.Context, grace time.Duration) (credentials, error) {
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-g.started:
	case <-t.C:
		return credentials{}, errBeforeAuth
	case <-ctx.Done():
		return credentials{}, ctx.Err()
	}
	select {
	case <-g.done:
		return g.creds, g.err
	case <-ctx.Done():
		return credentials{}, ctx.Err()
	}
}
