package client

import (
	"errors"
	"fmt"

	"github.com/webrtc-broker/webrtc-broker/protocol"
)

var (
	// ErrServerFull is returned by Dial when the server answered
	// CONNECTION_REFUSED/SERVER_FULL (its max_peers is reached).
	ErrServerFull = errors.New("client: server full")
	// ErrAuthFailed means the coordinator rejected the credentials in
	// Config.Token/Query/Header, or the server refused the AUTH body. It is
	// final: the same credentials would be refused again.
	ErrAuthFailed = errors.New("client: authentication failed")
	// ErrRefused is a CONNECTION_REFUSED with a reason other than SERVER_FULL.
	ErrRefused = errors.New("client: connection refused")
	// ErrNoServers means the coordinator's WELCOME listed no server: start a
	// communication server, or check the coordinator's selector.
	ErrNoServers = errors.New("client: coordinator offered no server")
	// ErrDisconnected means the link to the server was lost: a channel closed
	// or the peer connection failed.
	ErrDisconnected = errors.New("client: disconnected from server")
	// ErrNotConnected is returned by an unreliable Publish or PublishIdentity
	// while the client is reconnecting: stale state is not worth queueing.
	ErrNotConnected = errors.New("client: not connected (reconnecting)")
	// ErrQueueFull is returned by a reliable Publish or PublishIdentity while
	// the client is reconnecting and Reconnect.QueueBytes are already held.
	// The message was not queued.
	ErrQueueFull = errors.New("client: reconnection queue full")
	// ErrClosed is returned by every call on a client after Close, or after
	// it gave up (then together with the cause).
	ErrClosed = errors.New("client: closed")
	// ErrInvalidTopic is an empty topic or one containing a space (the
	// subscription format separates topics with spaces).
	ErrInvalidTopic = errors.New("client: invalid topic (empty or contains a space)")
	// ErrInvalidChannel is a Channel other than Reliable and Unreliable.
	ErrInvalidChannel = errors.New("client: invalid channel (want client.Reliable or client.Unreliable)")
)

// ServerError is an ERROR the server sent: a denied subscription, a dropped
// publish, a protocol violation. It goes to Config.OnError or Errors(),
// never to the messages.
type ServerError struct {
	Code protocol.ErrorCode
	// Topic is set when the error concerns one.
	Topic  string
	Reason string
	// Server is the alias of the server that sent it.
	Server  uint64
	Channel Channel
}

func (e *ServerError) Error() string {
	if e.Topic != "" {
		return fmt.Sprintf("server %d: %s on %q: %s", e.Server, e.Code, e.Topic, e.Reason)
	}
	return fmt.Sprintf("server %d: %s: %s", e.Server, e.Code, e.Reason)
}

// Is makes errors.Is(err, ErrAuthFailed) true for ERROR_AUTH_FAILED.
func (e *ServerError) Is(target error) bool {
	return target == ErrAuthFailed && e.Code == protocol.ErrorCode_ERROR_AUTH_FAILED
}
