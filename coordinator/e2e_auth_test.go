package coordinator_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/coordinator"
	"github.com/webrtc-broker/webrtc-broker/core/auth"
	"github.com/webrtc-broker/webrtc-broker/core/logging"
	"github.com/webrtc-broker/webrtc-broker/plugins"
	"github.com/webrtc-broker/webrtc-broker/plugins/token/tokens"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

const authSecret = "coordinator-e2e-secret-0123"

// TestE2ECoordinatorAuthenticatesWithTheTokenPlugin: /connect and /discover
// go through a real token plugin process: the right token for the role is
// welcomed, anything else is refused before the upgrade.
func TestE2ECoordinatorAuthenticatesWithTheTokenPlugin(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "token")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/webrtc-broker/webrtc-broker/plugins/token").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	a, err := plugins.NewAuthenticator(ctx, auth.Config{Plugin: bin, Config: map[string]any{"secret": authSecret}, Timeout: 5 * time.Second},
		logging.Discard(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	base := serveCoordinator(t, a)

	mint := func(role protocol.Role, secret string, ttl time.Duration) string {
		tok, err := tokens.Mint([]byte(secret), tokens.Claims{Identity: "x", Role: role, Expiry: time.Now().Add(ttl)})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	// What a communication server presents, minted by the plugin itself.
	serverCreds, err := a.Credentials(t.Context(), protocol.Role_COMMUNICATION_SERVER, auth.TargetCoordinator)
	if err != nil {
		t.Fatal(err)
	}
	hubCreds, err := a.Credentials(t.Context(), protocol.Role_COMMUNICATION_SERVER_HUB, auth.TargetCoordinator)
	if err != nil {
		t.Fatal(err)
	}
	client := mint(protocol.Role_CLIENT, authSecret, time.Hour)

	tests := []struct {
		name    string
		path    string
		query   url.Values
		header  http.Header
		welcome bool
	}{
		{"client with a token", "/connect", url.Values{"token": {client}}, nil, true},
		{"client with a bearer token", "/connect", nil, http.Header{"Authorization": {"Bearer " + client}}, true},
		{"server with its own credentials", "/discover", withRole(serverCreds.Query, "COMMUNICATION_SERVER"), nil, true},
		{"hub with its own credentials", "/discover", withRole(hubCreds.Query, "COMMUNICATION_SERVER_HUB"), nil, true},
		{"client without a token", "/connect", nil, nil, false},
		{"client with an expired token", "/connect", url.Values{"token": {mint(protocol.Role_CLIENT, authSecret, -time.Second)}}, nil, false},
		{"client with a forged token", "/connect", url.Values{"token": {mint(protocol.Role_CLIENT, "some-other-secret-123", time.Hour)}}, nil, false},
		{"client with a server's token", "/connect", serverCreds.Query, nil, false},
		{"server with a client's token", "/discover", withRole(url.Values{"token": {client}}, "COMMUNICATION_SERVER"), nil, false},
		{"hub with a server's token", "/discover", withRole(serverCreds.Query, "COMMUNICATION_SERVER_HUB"), nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := base + tt.path + "?" + tt.query.Encode()
			conn, resp, err := websocket.DefaultDialer.DialContext(t.Context(), u, tt.header)
			if !tt.welcome {
				if err == nil {
					conn.Close()
					t.Fatal("upgraded; want a refusal")
				}
				if resp == nil || resp.StatusCode != http.StatusUnauthorized {
					t.Fatalf("err %v, response %v; want 401", err, resp)
				}
				return
			}
			if err != nil {
				t.Fatalf("dial: %v (response %v)", err, resp)
			}
			defer conn.Close()
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, b, err := conn.ReadMessage()
			if err != nil {
				t.Fatal(err)
			}
			var w protocol.WelcomeMessage
			if err := proto.Unmarshal(b, &w); err != nil || w.Type != protocol.MessageType_WELCOME || w.Alias == 0 {
				t.Fatalf("first message %v (%v), want a WELCOME with an alias", &w, err)
			}
		})
	}
}

func withRole(q url.Values, role string) url.Values {
	out := url.Values{"role": {role}}
	for k, v := range q {
		out[k] = v
	}
	return out
}

// serveCoordinator runs a coordinator with authenticator a on a loopback
// port until the test ends, and returns its ws:// base URL.
func serveCoordinator(t *testing.T, a auth.Authenticator) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c, err := coordinator.New(coordinator.Config{Listen: ln.Addr().String()}, coordinator.Options{Logger: logging.Discard(), Auth: a})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("coordinator: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("coordinator did not stop")
		}
	})
	return "ws://" + ln.Addr().String()
}
