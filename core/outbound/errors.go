package outbound

import "errors"

var (
	// ErrSlowConsumer is returned by Push on a reliable queue when the
	// message would take the peer over its byte budget: the peer is not
	// reading fast enough, and the caller disconnects it (and logs it) rather
	// than let its backlog grow without bound.
	ErrSlowConsumer = errors.New("outbound: peer is over its outbound byte budget (slow consumer)")
	// ErrClosed is returned by Push after Close.
	ErrClosed = errors.New("outbound: queue closed")
)
