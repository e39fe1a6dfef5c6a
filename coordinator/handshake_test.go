package coordinator

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/core/auth"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// fakeAuth answers with decide and remembers what it was asked.
type fakeAuth struct {
	auth.AllowAll
	decide func(ctx context.Context, req auth.Request) (auth.Result, error)

	mu   sync.Mutex
	seen []auth.Request
}

func (f *fakeAuth) Authenticate(ctx context.Context, req auth.Request) (auth.Result, error) {
	f.mu.Lock()
	f.seen = append(f.seen, req)
	f.mu.Unlock()
	return f.decide(ctx, req)
}

func (f *fakeAuth) requests() []auth.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]auth.Request(nil), f.seen...)
}

func TestAuthRefusalIs401WithTheReason(t *testing.T) {
	cases := []struct {
		name     string
		decide   func(ctx context.Context, req auth.Request) (auth.Result, error)
		wantBody string
	}{
		{"denied", func(context.Context, auth.Request) (auth.Result, error) {
			return auth.Result{Reason: "token expired"}, nil
		}, "token expired"},
		{"authenticator error fails closed", func(context.Context, auth.Request) (auth.Result, error) {
			return auth.Result{Allow: true}, errors.New("plugin crashed: secret detail")
		}, "authentication unavailable"},
		{"authenticator times out", func(ctx context.Context, _ auth.Request) (auth.Result, error) {
			<-ctx.Done()
			return auth.Result{}, ctx.Err()
		}, "authentication unavailable"},
	}
	paths := []struct {
		target string
		role   protocol.Role
	}{
		{"/connect?token=abc", protocol.Role_CLIENT},
		{"/discover?role=COMMUNICATION_SERVER&token=abc", protocol.Role_COMMUNICATION_SERVER},
		{"/discover?role=COMMUNICATION_SERVER_HUB&token=abc", protocol.Role_COMMUNICATION_SERVER_HUB},
	}
	for _, c := range cases {
		for _, p := range paths {
			t.Run(c.name+p.target, func(t *testing.T) {
				fa := &fakeAuth{decide: c.decide}
				co, err := New(Config{Auth: auth.Config{Timeout: 50 * time.Millisecond}}, Options{Logger: testLogger(t), Auth: fa})
				if err != nil {
					t.Fatal(err)
				}
				rec := httptest.NewRecorder()
				req := httptest.NewRequest(http.MethodGet, "http://coordinator.test"+p.target, nil)
				req.Header.Set("Authorization", "Bearer xyz")
				asUpgrade(req)
				co.Handler().ServeHTTP(rec, req)

				if rec.Code != http.StatusUnauthorized {
					t.Fatalf("HTTP %d, want 401", rec.Code)
				}
				if body := rec.Body.String(); !strings.Contains(body, c.wantBody) || strings.Contains(body, "secret") {
					t.Fatalf("body %q: want the reason %q and nothing internal", body, c.wantBody)
				}
				seen := fa.requests()
				if len(seen) != 1 {
					t.Fatalf("authenticator asked %d times, want once", len(seen))
				}
				got := seen[0]
				if got.Role != p.role || got.HTTP == nil || !strings.Contains(got.HTTP.URL, "token=abc") ||
					got.HTTP.Header.Get("Authorization") != "Bearer xyz" || got.Body != nil {
					t.Fatalf("authenticator saw %+v %+v, want role %s with the request", got, got.HTTP, p.role)
				}
				if v := metricValue(t, co, "coordinator_auth_denials_total", "role", p.role.String()); v != 1 {
					t.Fatalf("auth denials for %s = %v, want 1", p.role, v)
				}
			})
		}
	}
}

// asUpgrade adds the headers of a WebSocket handshake.
func asUpgrade(r *http.Request) *http.Request {
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Sec-WebSocket-Version", "13")
	r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	return r
}

func TestPlainHTTPOnTheSocketEndpointsIs400WithoutAuth(t *testing.T) {
	fa := &fakeAuth{decide: func(context.Context, auth.Request) (auth.Result, error) {
		return auth.Result{Allow: true}, nil
	}}
	co, err := New(Config{}, Options{Logger: testLogger(t), Auth: fa})
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"/connect", "/discover?role=COMMUNICATION_SERVER"} {
		rec := httptest.NewRecorder()
		co.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		if rec.Code != http.StatusBadRequest {
			t.Errorf("plain GET %s: HTTP %d, want 400", target, rec.Code)
		}
	}
	if n := len(fa.requests()); n != 0 {
		t.Fatalf("authenticator asked %d times about plain HTTP requests", n)
	}
}

func TestDiscoverRejectsAnythingButAServerRole(t *testing.T) {
	fa := &fakeAuth{decide: func(context.Context, auth.Request) (auth.Result, error) {
		return auth.Result{Allow: true}, nil
	}}
	co, err := New(Config{}, Options{Logger: testLogger(t), Auth: fa})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"", "?role=", "?role=CLIENT", "?role=UNKNOWN_ROLE", "?role=2", "?role=hub", "?role=communication_server"} {
		rec := httptest.NewRecorder()
		co.Handler().ServeHTTP(rec, asUpgrade(httptest.NewRequest(http.MethodGet, "/discover"+q, nil)))
		if rec.Code != http.StatusBadRequest {
			t.Errorf("/discover%s: HTTP %d, want 400", q, rec.Code)
		}
	}
	if n := len(fa.requests()); n != 0 {
		t.Fatalf("authenticator asked %d times about requests without a valid role", n)
	}
}

func TestOnlyAuthenticatedPeersGetASocket(t *testing.T) {
	fa := &fakeAuth{decide: func(_ context.Context, req auth.Request) (auth.Result, error) {
		if strings.Contains(req.HTTP.URL, "token=good") {
			return auth.Result{Allow: true}, nil
		}
		return auth.Result{Reason: "bad token"}, nil
	}}
	tc := startCoordinator(t, Config{}, Options{Auth: fa}, nil)

	if got := dialStatus(t, tc.wsURL("/connect?token=bad")); got != http.StatusUnauthorized {
		t.Fatalf("bad token: HTTP %d, want 401", got)
	}
	if got := dialStatus(t, tc.wsURL("/discover?role=COMMUNICATION_SERVER&token=bad")); got != http.StatusUnauthorized {
		t.Fatalf("bad token: HTTP %d, want 401", got)
	}
	dialPeer(t, tc.wsURL("/connect?token=good")).welcome()
	dialPeer(t, tc.wsURL("/discover?role=COMMUNICATION_SERVER&token=good")).welcome()
}

// noKeepAlive leaves no idle connection (and goroutine) behind.
var noKeepAlive = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

func TestHealthReadinessAndMetricsEndpoints(t *testing.T) {
	idle, err := New(Config{}, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	idle.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz before Serve: HTTP %d, want 503", rec.Code)
	}

	tc := startCoordinator(t, Config{}, Options{}, nil)
	dialClient(t, tc).welcome()
	dialServer(t, tc).welcome()
	for path, want := range map[string]string{
		"/healthz": "ok",
		"/readyz":  "ok",
		"/metrics": "coordinator_connected_clients 1",
	} {
		resp, err := noKeepAlive.Get("http://" + tc.addr + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		body := new(strings.Builder)
		_, _ = io.Copy(body, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(body.String(), want) {
			t.Errorf("GET %s: HTTP %d %q, want 200 with %q", path, resp.StatusCode, body, want)
		}
	}
	if v := metricValue(t, tc.Coordinator, "coordinator_connected_servers"); v != 1 {
		t.Errorf("connected servers = %v, want 1", v)
	}
}
