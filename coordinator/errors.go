package coordinator

import "errors"

var (
	// ErrUnknownSelector is returned by New for a selector name other than
	// random, least-loaded or star.
	ErrUnknownSelector = errors.New("unknown selector: want random, least-loaded or star")

	// errNegative rejects a negative size or duration in the config.
	errNegative = errors.New("must not be negative (0 means the default)")
	// errTURNNoSecret: turn.urls without the secret to mint credentials.
	errTURNNoSecret = errors.New("turn.secret is needed to mint credentials")
	// errHubTaken refuses a second hub under the star selector: a cluster
	// has one hub, so stop the other one or use another selector.
	errHubTaken = errors.New("a hub is already registered (star allows one per cluster)")
	// errBadRole is a /discover request whose role query is not a server role.
	errBadRole = errors.New("role must be COMMUNICATION_SERVER or COMMUNICATION_SERVER_HUB")
	// errBadTransport is a /discover request whose transport query is
	// neither mesh nor nats, or nats for a hub (a hub's star is links).
	errBadTransport = errors.New("transport must be mesh or nats (nats only for COMMUNICATION_SERVER)")
	// errUnknownType is a message type the coordinator does not relay: only
	// CONNECT, WEBRTC_OFFER/ANSWER/ICE_CANDIDATE and CONNECTION_REFUSED.
	errUnknownType = errors.New("not a message the coordinator relays")
	// errNoTarget is a signaling message without to_alias.
	errNoTarget = errors.New("to_alias is missing")
	// errSelfAddressed is a signaling message a peer sent to itself.
	errSelfAddressed = errors.New("to_alias is the sender's own alias")
	// errClientTarget is a client addressing another client: clients may
	// only signal servers.
	errClientTarget = errors.New("a client may only address servers")
	// errTLSPair is a config with one of tls.cert and tls.key.
	errTLSPair = errors.New("set both or neither")
	// errBadOrigin is an allowed_origins entry that is not an origin.
	errBadOrigin = errors.New(`want scheme://host[:port] with no path, such as "https://app.example.com", or "*"`)
	// errOriginRefused is a browser socket from a page not allowed.
	errOriginRefused = errors.New("origin not allowed")
)

// Multiple coordinators (alias.go).
var (
	// errBadCount is a coordinator.count outside 1..16.
	errBadCount = errors.New("must be 1 to 16 (the coordinators of the cluster, or more for room)")
	// errBadID is a coordinator.id outside 0..count-1.
	errBadID = errors.New("must be 0 to coordinator.count-1, different on every coordinator of the cluster")
	// errBadAlias is a server's proposed alias that no coordinator draws.
	errBadAlias = errors.New("not an alias: 0, or not below 2^53")
	// errNoPartition is a proposed alias whose partition is no
	// coordinator's under coordinator.count.
	errNoPartition = errors.New("no coordinator of coordinator.count has this partition (is coordinator.count the same on every coordinator?)")
	// errFutureAlias is a proposed alias of this coordinator's partition
	// that it has not drawn yet: accepting it could hand it out twice.
	errFutureAlias = errors.New("in this coordinator's partition but not drawn yet (another coordinator with the same coordinator.id?)")
	// errAliasTaken is a proposed alias that a client holds here.
	errAliasTaken = errors.New("alias held by a client of this coordinator")
)
