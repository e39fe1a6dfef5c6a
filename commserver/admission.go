package commserver

import (
	"time"

	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// Admission of clients past max_half_open. A CONNECT that finds
// max_half_open clients being set up is refused as busy: SERVER_FULL with
// ConnectionRefusedMessage.retry_after_ms set, which the SDKs read as "try
// again" and retry on the same signaling socket with their jittered
// reconnection backoff, starting at the hint. The refusal is cheap (one
// coordinator message, no peer connection), so a storm of clients is
// admitted at the rate the server completes DTLS setups instead of all at
// once, which on 2 cores would starve every handshake of CPU.

const (
	// busyRetryDefault is the hint before any setup has been measured.
	busyRetryDefault = 250 * time.Millisecond
	// busyRetryMin and busyRetryMax bound the hint: below 50 ms a refused
	// client would only be refused again; above 2 s slots would stand empty
	// while everyone waits.
	busyRetryMin = 50 * time.Millisecond
	busyRetryMax = 2 * time.Second
)

// setupClock is the server's running estimate of how long a client takes
// from CONNECT to DTLS up, guarded by Server.mu.
type setupClock struct {
	mean time.Duration // exponentially weighted, 1/8 per sample; 0 before the first
}

// observe adds one setup's duration.
func (c *setupClock) observe(d time.Duration) {
	if c.mean == 0 {
		c.mean = d
		return
	}
	c.mean += (d - c.mean) / 8
}

// retryAfter is the wait a busy refusal suggests: one mean setup, by when
// the clients being set up have mostly finished and freed their slots.
func (c *setupClock) retryAfter() time.Duration {
	if c.mean == 0 {
		return busyRetryDefault
	}
	return min(max(c.mean, busyRetryMin), busyRetryMax)
}

// refuseBusy refuses a client's CONNECT because max_half_open clients are
// being set up; hint is setupClock.retryAfter, read under Server.mu.
func (s *Server) refuseBusy(l *coordLink, to uint64, fromRole protocol.Role, hint time.Duration) {
	s.m.refusedFull.Inc()
	s.m.refusedBusy.Inc()
	s.log.Debug("CONNECT refused: too many clients being set up, told to retry", "peer", to, "role", fromRole.String(),
		"max_half_open", s.cfg.MaxHalfOpen, "retry_after", hint)
	err := s.signalVia(l, &protocol.ConnectionRefusedMessage{
		Type: protocol.MessageType_CONNECTION_REFUSED, FromAlias: s.alias.Load(), ToAlias: to,
		Reason: protocol.ConnectionRefusedReason_SERVER_FULL, Data: []byte("server busy: too many clients being set up, retry"),
		RetryAfterMs: uint32(hint.Milliseconds()),
	})
	if err != nil {
		s.log.Debug("CONNECTION_REFUSED not sent", "peer", to, "err", err)
	}
}
