package coordinator

// Lock order (locksordering.txt style: a lock may be taken while holding
// the ones listed before it, never the reverse):
//
//	directory.mu -> outbound.Queue.mu (register queues the WELCOME)
//
// directory.mu guards the table of peers and servers, the hub count and
// the registration counter. It is never held while writing to a socket or
// calling the auth plugin; the selector's offer runs under it and takes no
// lock.
//
// Leaves, taken with nothing else held: aliasSource.mu (alias.go),
// Coordinator.cutWarnings.mu (relay.go), Coordinator.originWarnings.mu
// (tls.go), and a peer's outbound queue when it is pushed outside register.
