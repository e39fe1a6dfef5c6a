package coordinator

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/webrtc-broker/webrtc-broker/core/auth"
	"github.com/webrtc-broker/webrtc-broker/core/clusterauth"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// dialStatusWith dials with header and returns the handshake's HTTP status
// (101 when it upgraded).
func dialStatusWith(t *testing.T, url string, header http.Header) int {
	t.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial(url, header)
	if err == nil {
		_ = conn.Close()
		return http.StatusSwitchingProtocols
	}
	if resp == nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

// TestDiscoverNeedsTheClusterSecret: with the default allow-all and a
// cluster.secret, /discover admits only a server that proves the secret;
// clients on /connect are not asked for it.
func TestDiscoverNeedsTheClusterSecret(t *testing.T) {
	tc := startCoordinator(t, Config{Cluster: clusterauth.Config{Secret: testSecret}}, Options{}, nil)
	srv, hub := protocol.Role_COMMUNICATION_SERVER, protocol.Role_COMMUNICATION_SERVER_HUB
	token := func(secret string, role protocol.Role, at time.Time) http.Header {
		return http.Header{clusterauth.Header: {clusterauth.DiscoverToken(secret, role, at)}}
	}
	serverURL := tc.wsURL("/discover?role=COMMUNICATION_SERVER")
	for _, c := range []struct {
		name   string
		header http.Header
	}{
		{"no token", nil},
		{"a token of another secret", token("not-the-cluster-secret-0123", srv, time.Now())},
		{"a stale token", token(testSecret, srv, time.Now().Add(-time.Hour))},
		{"a hub's token for the server role", token(testSecret, hub, time.Now())},
		{"garbage", http.Header{clusterauth.Header: {"v1.1.AAAA"}}},
	} {
		if got := dialStatusWith(t, serverURL, c.header); got != http.StatusUnauthorized {
			t.Errorf("%s: HTTP %d, want 401", c.name, got)
		}
	}
	dialServer(t, tc).welcome() // proves testSecret
	dialClient(t, tc).welcome()
}

// lockedBuffer is a log sink the coordinator's goroutines may share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestDiscoverRefusedWithNeitherSecretNorPlugin: secure by default. With
// no cluster.secret and no auth plugin nobody can prove anything, so
// /discover refuses every server with 403, and the log says what to set.
func TestDiscoverRefusedWithNeitherSecretNorPlugin(t *testing.T) {
	var logs lockedBuffer
	co, err := New(Config{}, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	req := asUpgrade(httptest.NewRequest(http.MethodGet, "/discover?role=COMMUNICATION_SERVER", nil))
	req.Header.Set(clusterauth.Header, clusterauth.DiscoverToken(testSecret, protocol.Role_COMMUNICATION_SERVER, time.Now()))
	co.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Fatalf("/discover with neither cluster.secret nor a plugin: HTTP %d, want 403", rec.Code)
	}
	if !strings.Contains(logs.String(), "cluster.secret") {
		t.Fatalf("the log does not say what to set:\n%s", logs.String())
	}
}

// TestDiscoverWithAPluginAndNoSecret: an auth plugin without a
// cluster.secret is the gate, as before.
func TestDiscoverWithAPluginAndNoSecret(t *testing.T) {
	fa := &fakeAuth{decide: func(_ context.Context, r auth.Request) (auth.Result, error) {
		return auth.Result{Allow: strings.Contains(r.HTTP.URL, "token=good")}, nil
	}}
	tc := startCoordinator(t, Config{}, Options{Auth: fa}, nil)
	if got := dialStatusWith(t, tc.wsURL("/discover?role=COMMUNICATION_SERVER&token=bad"), nil); got != http.StatusUnauthorized {
		t.Fatalf("plugin deny: HTTP %d, want 401", got)
	}
	if got := dialStatusWith(t, tc.wsURL("/discover?role=COMMUNICATION_SERVER&token=good"), nil); got != http.StatusSwitchingProtocols {
		t.Fatalf("plugin allow: HTTP %d, want 101", got)
	}
}
