package client

// Locks (locksordering.txt style). No lock of this package is taken while
// another is held; each is a leaf:
//
//	channel.mu    serializes a channel's writes and guards its encode buffer;
//	              held from encode to commit, across the data channel write
//	signaling.mu  serializes WebSocket writes and guards answered, pending
//	              and closed; held across a write (bounded by
//	              signalWriteTimeout) so that a candidate never overtakes the
//	              answer
//	Client.pingMu guards pings and lastPing
//	Client.authMu guards authReason
//
// pion's callbacks (OnICECandidate, OnMessage) take them with nothing held.
