package coordinator

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// Selector names (the selector config key).
const (
	selectorRandom      = "random"
	selectorLeastLoaded = "least-loaded"
	selectorStar        = "star"
	selectorAffinity    = "affinity"
)

// server is what a selector knows about one registered communication server.
type server struct {
	alias uint64
	hub   bool
	// load is the number of distinct clients the coordinator has relayed a
	// CONNECT to this server for since it registered. The coordinator cannot
	// see a WebRTC peer leave, so the count only grows; it still spreads new
	// clients evenly, which is what least-loaded is for.
	load uint64
	// since orders servers by registration, oldest first (aliases are
	// random, so they do not).
	since uint64
	// transport is the server's cluster.transport (directory.go).
	transport string
	// turn lists the URLs of the server's embedded TURN (turncred.Header
	// at registration), handed with minted credentials to the clients it
	// is offered to.
	turn []string
	// rep is the server's last LOAD_REPORT (and DRAIN), sinceReport the
	// distinct clients signaled to it since (load.go).
	rep         report
	sinceReport uint64
}

// selector decides which servers a newly registered peer is offered in its
// WELCOME. Implementations are pure: the directory calls them under its lock
// with a snapshot, so the offer and the registration are one atomic step and
// two servers registering at once always see one another exactly once.
type selector interface {
	// admit is asked before the WebSocket upgrade; an error refuses the peer
	// with 409 Conflict. hubs counts the hubs registered or being registered.
	admit(role protocol.Role, hubs int) error
	// offer returns, best first, the aliases from servers (every registered
	// server, oldest first; the new peer is not among them; for a client,
	// only the offerable ones: see forRole) that a peer with role may use.
	offer(role protocol.Role, servers []server) []uint64
}

func newSelector(name string) (selector, error) {
	switch name {
	case selectorRandom:
		return randomSelector{}, nil
	case selectorLeastLoaded:
		return leastLoadedSelector{}, nil
	case selectorStar:
		return starSelector{}, nil
	case selectorAffinity:
		return affinitySelector{}, nil
	}
	return nil, fmt.Errorf("selector %q: %w", name, ErrUnknownSelector)
}

// randomSelector treats every server as equivalent: everyone is offered every
// server, in a new random order each time, so clients of the 2019 protocol,
// which take the first, spread over the cluster. A hub role is a plain server
// here.
type randomSelector struct{}

func (randomSelector) admit(protocol.Role, int) error { return nil }

func (randomSelector) offer(_ protocol.Role, servers []server) []uint64 {
	out := aliasesOf(servers, func(server) bool { return true })
	rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// forRole is what any selector may offer a peer with role: a client never
// sees a draining or full server; servers see every server, so that the
// clients still on a draining one keep hearing the cluster.
func forRole(role protocol.Role, servers []server) []server {
	if role != protocol.Role_CLIENT {
		return servers
	}
	return slices.DeleteFunc(slices.Clone(servers), func(s server) bool { return !s.offerable() })
}

// leastLoadedSelector offers every server, least loaded first (by the
// clients it last reported plus those signaled to it since; see
// server.clientLoad), ties broken by age (the older server first) so that
// the order is deterministic.
type leastLoadedSelector struct{}

func (leastLoadedSelector) admit(protocol.Role, int) error { return nil }

func (leastLoadedSelector) offer(_ protocol.Role, servers []server) []uint64 {
	sorted := slices.Clone(servers)
	slices.SortStableFunc(sorted, func(a, b server) int {
		return cmp.Or(cmp.Compare(a.clientLoad(), b.clientLoad()), cmp.Compare(a.since, b.since))
	})
	return aliasesOf(sorted, func(server) bool { return true })
}

// starSelector builds a star around one hub: a server is offered only the hub
// (nothing until a hub registers), the hub is offered every server (so a hub
// that starts last still connects to all of them), and clients are offered
// only the non-hub servers, shuffled.
type starSelector struct{}

func (starSelector) admit(role protocol.Role, hubs int) error {
	if role == protocol.Role_COMMUNICATION_SERVER_HUB && hubs > 0 {
		return errHubTaken
	}
	return nil
}

func (starSelector) offer(role protocol.Role, servers []server) []uint64 {
	switch role {
	case protocol.Role_COMMUNICATION_SERVER:
		return aliasesOf(servers, func(s server) bool { return s.hub })
	case protocol.Role_COMMUNICATION_SERVER_HUB:
		return aliasesOf(servers, func(s server) bool { return !s.hub })
	default:
		out := aliasesOf(servers, func(s server) bool { return !s.hub })
		rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
		return out
	}
}

func aliasesOf(servers []server, keep func(server) bool) []uint64 {
	out := make([]uint64, 0, len(servers))
	for _, s := range servers {
		if keep(s) {
			out = append(out, s.alias)
		}
	}
	return out
}
