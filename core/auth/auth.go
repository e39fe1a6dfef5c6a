// Package auth defines how the broker asks "who is this, and may they in?".
//
// The coordinator asks it for every WebSocket request, the communication
// server for every AUTH message on a data channel, and the communication
// server also asks it for the credentials it presents on its own outgoing
// connections. The built-in AllowAll answers yes to everyone; the go-plugin
// host in plugins/ implements the same interface with an external binary.
package auth

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// HTTPRequest is the part of a coordinator WebSocket request that an
// authenticator may look at. It is copied out of *http.Request so that it can
// cross a process boundary.
type HTTPRequest struct {
	URL        string      // full request URL including the query
	Header     http.Header // request headers
	RemoteAddr string
}

// Request is one question to an authenticator. Exactly one of HTTP and Body
// is set: HTTP for a coordinator request, Body for an AUTH message.
type Request struct {
	Role protocol.Role
	HTTP *HTTPRequest
	Body []byte
}

// Result is the answer. On Allow, Identity is what the broker attaches to the
// peer (TOPIC_IDENTITY_FW carries it); on deny, Reason says why and is sent to
// the peer in an ERROR message, so it must not leak secrets.
type Result struct {
	Allow    bool
	Identity []byte
	Reason   string
	// Room, on allow for a client at the coordinator, is the client's room
	// for selector affinity; it takes precedence over /connect?room=.
	Room string
}

// Target says where a communication server is about to present credentials.
type Target int

const (
	// TargetCoordinator is the server's WebSocket to the coordinator.
	TargetCoordinator Target = iota
	// TargetServer is the AUTH message on a link to another server.
	TargetServer
)

// Credentials are what a communication server presents: Query and Header go on
// the coordinator request, Body goes in the AUTH message.
type Credentials struct {
	Query  url.Values
	Header http.Header
	Body   []byte
}

// Authenticator decides who may connect. Implementations are safe for
// concurrent use and honour ctx's deadline. An error means "could not decide"
// and callers treat it as a deny (fail closed).
type Authenticator interface {
	Authenticate(ctx context.Context, req Request) (Result, error)
	Credentials(ctx context.Context, role protocol.Role, target Target) (Credentials, error)
	Close() error
}

// AllowAll admits everyone with empty identity bytes and presents no
// credentials. It is what runs when no plugin is configured.
type AllowAll struct{}

var _ Authenticator = AllowAll{}

// Authenticate always allows.
func (AllowAll) Authenticate(context.Context, Request) (Result, error) {
	return Result{Allow: true, Identity: []byte{}}, nil
}

// Credentials returns empty credentials.
func (AllowAll) Credentials(context.Context, protocol.Role, Target) (Credentials, error) {
	return Credentials{}, nil
}

// Close does nothing.
func (AllowAll) Close() error { return nil }

// FromHTTP copies what an authenticator may see out of an HTTP request.
func FromHTTP(r *http.Request) *HTTPRequest {
	u := *r.URL
	if u.Host == "" {
		u.Host = r.Host
	}
	if u.Scheme == "" {
		u.Scheme = "http"
		if r.TLS != nil {
			u.Scheme = "https"
		}
	}
	return &HTTPRequest{URL: u.String(), Header: r.Header.Clone(), RemoteAddr: r.RemoteAddr}
}

// Config is the auth section of both binaries' configuration. An empty Plugin
// means the built-in AllowAll.
type Config struct {
	Plugin  string         `koanf:"plugin"`  // path of the plugin binary
	SHA256  string         `koanf:"sha256"`  // hex checksum the binary must have, if set
	Config  map[string]any `koanf:"config"`  // passed to the plugin once at start
	Timeout time.Duration  `koanf:"timeout"` // bound of every call
}

// DefaultTimeout bounds every authenticator call when auth.timeout is not
// set: long enough for a plugin that asks a token service, short enough that
// a hung one does not hold a peer's set-up for long.
const DefaultTimeout = 2 * time.Second

// Defaults are the config defaults for the auth section, flat keys.
func Defaults() map[string]any {
	return map[string]any{
		"auth.plugin":  "",
		"auth.sha256":  "",
		"auth.config":  map[string]any{},
		"auth.timeout": DefaultTimeout.String(),
	}
}
