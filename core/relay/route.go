// Package relay owns the relay rules of the broker (who gets a published
// message) and the wire encoding of relayed messages: a message is decoded
// once without copying, encoded once into one buffer, and that buffer is
// shared by every subscriber's outbound queue.
//
// It has no network and no state; the communication server calls it from its
// read loops.
package relay

// Origin is the kind of peer a TOPIC or TOPIC_IDENTITY came from.
type Origin int

const (
	// FromClient: a client published it; the server stamps from_alias.
	FromClient Origin = iota + 1
	// FromServer: another communication server relayed it; from_alias is
	// the publishing client's, stamped by that server.
	FromServer
)

// String names the origin for logs.
func (o Origin) String() string {
	switch o {
	case FromClient:
		return "client"
	case FromServer:
		return "server"
	default:
		return "unknown"
	}
}

// Route says where a TOPIC or TOPIC_IDENTITY goes, per the DESIGN relay
// rules:
//   - from a client: to the local clients that subscribe (as TOPIC_FW or
//     TOPIC_IDENTITY_FW) and to the connected servers that subscribe (as
//     TOPIC or TOPIC_IDENTITY);
//   - from a server: to the local clients only, except on a hub, which also
//     forwards it to the other subscribed servers, so that servers of a star
//     reach each other through it.
//
// The sender never gets its own message back: the caller skips the sending
// peer when it walks the subscribers. An unknown origin goes nowhere.
func Route(o Origin, hub bool) (toClients, toServers bool) {
	switch o {
	case FromClient:
		return true, true
	case FromServer:
		return true, hub
	default:
		return false, false
	}
}
