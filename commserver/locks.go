package commserver

// Lock order (locksordering.txt style: a lock may be taken while holding
// the ones listed before it, never the reverse):
//
//	Server.mu -> peer.mu
//
// Server.mu guards the server's maps (all, peers, sameAs, pending, servers,
// dialing, lost), its counters and closing, and every peer's srv fields.
// It is held for map work only: never across a socket write, a plugin or
// policy call, or a pion call that can block or call back. Under it the
// code may take peer.mu (live, via linkedLocked, serverLinkedLocked,
// linkByFingerprintLocked), read PeerConnection.ConnectionState (an atomic
// load in pion, through live), start a goroutine (routines.Group's own lock,
// a leaf) and count metrics and log.
//
// peer.mu guards pc, localFP, closed, openChans, established and the
// channels' attached, dc and rw. Nothing else is taken while it is held:
// close copies what it needs and releases it before closing anything.
//
// Leaves, taken with nothing else of this package held: peer.cand.mu (pion's
// OnICECandidate and the goroutine that sends the description), the
// errorLimiter's and certSource's mu, and the locks inside core/outbound
// queues and core/subscriptions tables (Push, Run; Add, Remove, Match), which
// are called outside Server.mu and peer.mu.
//
// Presence and history (presence.go, history.go) add, in order:
//
//	presences.mu -> histories.mu -> stream.mu
//	Server.mu -> histories.mu -> stream.mu (restartAll, when a link is lost)
//	stream.mu -> peer.rp.mu (replay.go: a replay registered under its stream's lock)
//
// presences.mu is held while a client's topic set changes (so membership
// events leave in order) and while presence reports and snapshots are
// built and queued; it is never held with Server.mu. A stream's mu is held
// while a message is numbered, stored and queued, and while a recovering
// client's set goes in force and its replay is queued: under it the code
// takes the subscription table's locks and the outbound queues' (and may
// close a slow consumer, which takes peer.mu). histories.mu is a read lock
// around a map lookup, except in the sweeper, which holds it to drop idle
// streams and takes table locks and stream.mu under it.
//
// "Locked" in a function's name means Server.mu is held on entry; in
// presence.go, that presences.mu is.
//
// Goroutine-owned state, no lock: peer.sig is the read goroutine's of the
// peer's coordinator link, peer.via (signaling.go, coordmulti.go; signaling
// for the peer that arrives on another link is dropped), peer.ann the
// announcer's, peer.rd the reliable read loop's. coordLink.listed is
// guarded by Server.mu.
