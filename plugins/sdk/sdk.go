// Package sdk is what an auth plugin author imports: the Plugin interface to
// implement and Serve to call from main. It also owns the go-plugin contract
// that the host in package plugins shares (Handshake, PluginName, GRPCPlugin),
// so that a plugin and the broker built from the same module always agree.
//
// A complete plugin:
//
//	type open struct{}
//
//	func (open) Configure(map[string]any) error { return nil }
//	func (open) Authenticate(ctx context.Context, req sdk.Request) (sdk.Result, error) {
//		return sdk.Allow([]byte("anyone")), nil
//	}
//	func (open) Credentials(context.Context, sdk.Role, sdk.Target) (sdk.Credentials, error) {
//		return sdk.Credentials{}, nil
//	}
//
//	func main() { sdk.Serve(open{}) }
package sdk

import (
	"context"

	"github.com/hashicorp/go-plugin"

	"github.com/webrtc-broker/webrtc-broker/core/auth"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// Plugin is an authenticator that runs in its own process. The host calls
// Configure once, before anything else, then Authenticate and Credentials
// concurrently; each call's ctx carries the host's deadline (auth.timeout).
type Plugin interface {
	// Configure receives the auth.config section, decoded from JSON (numbers
	// are float64). An error stops the broker from starting.
	Configure(config map[string]any) error
	// Authenticate decides on one peer. An error is a deny for the peer and a
	// log line on the host; prefer Deny(reason) for an ordinary refusal.
	Authenticate(ctx context.Context, req Request) (Result, error)
	// Credentials returns what a communication server with this role presents
	// to target. The same plugin must accept them in Authenticate.
	Credentials(ctx context.Context, role Role, target Target) (Credentials, error)
}

// The request and answer types are the broker's own, so that a plugin reads
// exactly what the host was asked.
type (
	// Request is one question: Role and exactly one of HTTP (a coordinator
	// WebSocket request) or Body (an AUTH message on a data channel).
	Request = auth.Request
	// HTTPRequest is the coordinator request: URL with its query, headers,
	// remote address.
	HTTPRequest = auth.HTTPRequest
	// Result is the answer: Allow with Identity (and, for a client at the
	// coordinator, optionally the Room that selector affinity places it by),
	// or a deny with a Reason that is sent to the peer (never put a secret
	// in it).
	Result = auth.Result
	// Credentials are a server's: Query and Header for the coordinator, Body
	// for the AUTH message to another server.
	Credentials = auth.Credentials
	// Target is where credentials are presented.
	Target = auth.Target
	// Role is the broker protocol's role of the peer being authenticated.
	Role = protocol.Role
)

// Roles and targets, re-exported so that a plugin needs one import.
const (
	RoleClient        = protocol.Role_CLIENT
	RoleServer        = protocol.Role_COMMUNICATION_SERVER
	RoleHub           = protocol.Role_COMMUNICATION_SERVER_HUB
	TargetCoordinator = auth.TargetCoordinator
	TargetServer      = auth.TargetServer
)

// Allow admits a peer with identity (what receivers see in TOPIC_IDENTITY_FW).
func Allow(identity []byte) Result { return Result{Allow: true, Identity: identity} }

// Deny refuses a peer; reason is sent to it.
func Deny(reason string) Result { return Result{Reason: reason} }

// Handshake is fixed for every broker auth plugin. The cookie only stops a
// plugin binary from being run by hand by mistake; ProtocolVersion changes
// when the Auth service changes incompatibly.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "WEBRTC_BROKER_AUTH_PLUGIN",
	MagicCookieValue: "7f3c2a9e-authenticate-peers",
}

// PluginName is the single plugin a binary serves, in go-plugin's plugin map.
const PluginName = "auth"

// Serve runs impl as a plugin and returns when the host ends it. Call it from
// main and do nothing else there: stdout belongs to go-plugin. Log with
// Logger(); anything else written to stderr also reaches the host's log.
func Serve(impl Plugin) {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         plugin.PluginSet{PluginName: &GRPCPlugin{Impl: impl}},
		GRPCServer:      plugin.DefaultGRPCServer,
		Logger:          hclogLogger(),
	})
}
