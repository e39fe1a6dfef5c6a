package client

import "errors"

var (
	// ErrServerFull is returned by Dial when the server answered
	// CONNECTION_REFUSED/SERVER_FULL (its max_peers is reached).
	ErrServerFull = errors.New("client: server full")
	// ErrAuthFailed means the coordinator rejected the credentials in
	// Config.Query/Header, or the server refused the AUTH body.
	ErrAuthFailed = errors.New("client: authentication failed")
	// ErrRefused is a CONNECTION_REFUSED with a reason other than SERVER_FULL.
	ErrRefused = errors.New("client: connection refused")
	// ErrNoServers means the coordinator's WELCOME listed no server: start a
	// communication server, or check the coordinator's selector.
	ErrNoServers = errors.New("client: coordinator offered no server")
	// ErrDisconnected means the link to the server was lost: a channel closed
	// or the peer connection failed.
	ErrDisconnected = errors.New("client: disconnected from server")
	// ErrClosed is returned by every call on a client after Close, or after
	// the link was lost (then together with the cause).
	ErrClosed = errors.New("client: closed")
	// ErrInvalidTopic is an empty topic or one containing a space (the
	// subscription format separates topics with spaces).
	ErrInvalidTopic = errors.New("client: invalid topic (empty or contains a space)")
)
