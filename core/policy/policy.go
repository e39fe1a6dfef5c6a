// Package policy defines the hook through which the communication server asks
// topic rules (the Lua host in commserver/luahost) whether a subscription or
// a publish may go ahead. The relay core depends only on this interface.
package policy

import "github.com/webrtc-broker/webrtc-broker/protocol"

// Peer is who is acting, as authentication established it; never a client
// field.
type Peer struct {
	Alias    uint64
	Identity []byte
	Role     protocol.Role
}

// Verdict is what a publish hook decided.
type Verdict int

const (
	// Allow relays the message unchanged.
	Allow Verdict = iota
	// Drop does not relay it; Decision.Reason says why.
	Drop
	// Replace relays Decision.Body instead of the original body.
	Replace
)

// Decision is the outcome of a publish hook.
type Decision struct {
	Verdict Verdict
	Body    []byte // with Replace
	Reason  string // with Drop
	// Conflate (with Allow or Replace) makes the message latest-wins on the
	// unreliable channel: a subscriber's backed-up queue keeps only the
	// newest per sender and topic, as the conflate config key does.
	Conflate bool
}

// Policy is implemented by the Lua host. All methods are safe for concurrent
// use. Governs is on the hot path for every message and must not allocate;
// callers skip the hooks for topics it reports false for, so a topic that no
// rule governs costs one lookup.
type Policy interface {
	Governs(topic string) bool
	OnSubscribe(p Peer, topic string) (allow bool, reason string)
	OnPublish(p Peer, topic string, body []byte, reliable bool) Decision
	OnConnect(p Peer)
	OnDisconnect(p Peer)
}
