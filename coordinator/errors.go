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
