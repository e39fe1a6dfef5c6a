package commserver

import "errors"

// Configuration errors.
var (
	// errBadRole: the role key must name one of the two server roles.
	errBadRole = errors.New("must be server or hub")
	// errBadTransport: cluster.transport must name a transport.
	errBadTransport = errors.New("unknown transport")
	// errHubOverNATS: a hub is the centre of a star of links, and NATS
	// makes no links.
	errHubOverNATS = errors.New("a hub needs server links, which cluster.transport=nats does not make")
	// errNegative: sizes, counts and durations cannot be negative.
	errNegative = errors.New("must not be negative")
	// errBadBackoff: reconnect.max must be at least reconnect.min.
	errBadBackoff = errors.New("want 0 <= reconnect.min <= reconnect.max")
	// errCAWithoutTLS: coordinator_ca is set but coordinator_url is ws://.
	errCAWithoutTLS = errors.New("the CA is only used with a wss:// coordinator_url")
	// errNoPEMCertificate: coordinator_ca holds no PEM certificate.
	errNoPEMCertificate = errors.New("no PEM certificate in the file")
	// errTooManyWorlds, errWorldRates: the worlds key (world.go).
	errTooManyWorlds = errors.New("too many worlds entries")
	errWorldRates    = errors.New("every needs one rate per band: within radius/4, radius/2 and radius")
)

// Handshake errors: each one gets the peer an ERROR{ERROR_AUTH_FAILED} and
// closes it.
var (
	// errNotAuth: the first message on the reliable channel was not AUTH.
	errNotAuth = errors.New("the first message must be AUTH")
	// errBeforeAuth: a message arrived on the unreliable channel and no AUTH
	// followed on the reliable one.
	errBeforeAuth = errors.New("message before AUTH")
	// errRoleMismatch: AUTH claimed a server role on a client's link, or the
	// reverse; the coordinator's stamped role wins.
	errRoleMismatch = errors.New("AUTH role differs from the role the coordinator authenticated")
	// errAuthRole: AUTH named no role the broker knows.
	errAuthRole = errors.New("AUTH role must be CLIENT, COMMUNICATION_SERVER or COMMUNICATION_SERVER_HUB")
	// errAuthDenied: the authenticator said no; the reason is in the wrap.
	errAuthDenied = errors.New("authentication denied")
	// errAuthUnavailable: the authenticator could not decide (error or
	// time-out); the broker fails closed.
	errAuthUnavailable = errors.New("authenticator unavailable")
	// errNoClusterProof: a server's AUTH does not prove cluster.secret on
	// this link.
	errNoClusterProof = errors.New("server AUTH does not prove cluster.secret")
	// errNoLinkAuth: with neither cluster.secret nor an auth plugin nothing
	// can vouch for a server, so server links are refused.
	errNoLinkAuth = errors.New("server links need cluster.secret or an auth plugin")
	// errLinkRefused: the server this one dialed refused its AUTH.
	errLinkRefused = errors.New("refused by the server")
	// errLinkClosed: the link closed before its AUTH could be queued.
	errLinkClosed = errors.New("link closed")
	// errNATSNoLinks: a server tried to link with one whose
	// cluster.transport is nats, which makes no server links.
	errNATSNoLinks = errors.New("this server relays through NATS (cluster.transport=nats) and takes no server links")
)

// Protocol violations: the message is dropped and counted; a peer that keeps
// sending them is closed.
var (
	// errMalformed: the bytes are not a valid broker message.
	errMalformed = errors.New("malformed message")
	// errTooLarge: a data-channel message over max_message_size.
	errTooLarge = errors.New("message over max_message_size")
	// errTopicsTooLarge: a SUBSCRIPTION whose topic set is, or inflates to,
	// more than max_topics_size.
	errTopicsTooLarge = errors.New("topic set over max_topics_size")
	// errServerTopicsTooLarge: a server's announcement, all its parts
	// together, inflates to more than max_server_topics_size.
	errServerTopicsTooLarge = errors.New("announced topic set over max_server_topics_size")
	// errClientParts: a client's SUBSCRIPTION with more set; announcements
	// in parts are a server-link extension.
	errClientParts = errors.New("a client's SUBSCRIPTION cannot come in parts")
	// errUnreliableParts: an announcement part on the unreliable channel,
	// where parts could be lost or reordered.
	errUnreliableParts = errors.New("announcement parts must come on the reliable channel")
	// errBadFormat: a SUBSCRIPTION with a format other than PLAIN or GZIP.
	errBadFormat = errors.New("subscription format must be PLAIN or GZIP")
	// errBadChannel: a data channel other than the two the protocol has.
	errBadChannel = errors.New("unexpected data channel")
	// errUnexpected: a message type this peer must not send here (an
	// unknown type, a second AUTH, a server-to-client type from a client).
	errUnexpected = errors.New("unexpected message type")
	// errNestedBatch: a BATCH inside a BATCH.
	errNestedBatch = errors.New("a BATCH inside a BATCH")
)

// Link errors.
var (
	// errEstablishTimeout: the peer did not open both channels and pass AUTH
	// within establish_timeout.
	errEstablishTimeout = errors.New("not established within establish_timeout")
	// errICEStartTimeout: a client we offered to sent no answer within
	// ice_start_timeout.
	errICEStartTimeout = errors.New("no answer within ice_start_timeout")
	// errCoordinatorDown: a signaling message could not be sent because the
	// coordinator link is away; the peer it was for will time out.
	errCoordinatorDown = errors.New("coordinator link is down")
	// errCoordinatorBacklog: the coordinator socket fell so far behind that
	// its queue went over its bound; the link is restarted.
	errCoordinatorBacklog = errors.New("coordinator link backlog over its bound")
	// errUnsolicitedOffer: an offer came from an alias this server sent no
	// CONNECT to; only the side that sent CONNECT answers.
	errUnsolicitedOffer = errors.New("offer without a CONNECT from this server")
	// errDuplicateLink: the remote server is already linked under another
	// alias (it re-registered with the coordinator).
	errDuplicateLink = errors.New("already linked to this server under another alias")
)

// Several coordinators (coordmulti.go).
var (
	// errBadCoordinatorURL is a coordinator_url entry that is not a ws://,
	// wss://, http:// or https:// URL with a host.
	errBadCoordinatorURL = errors.New("want ws://, wss://, http:// or https:// with a host")
	// errOtherAlias ends a session welcomed under another alias than the
	// server's: it registers again, proposing the server's alias.
	errOtherAlias = errors.New("welcomed under another alias than the one this server holds at its other coordinators")
	// errAliasIgnored is a coordinator that welcomed the server under
	// another alias than the one it proposed.
	errAliasIgnored = errors.New("alias proposal ignored")
)
