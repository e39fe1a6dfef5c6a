package coordinator

import (
	"bytes"
	"crypto/tls"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/webrtc-broker/webrtc-broker/core/ratelimit"
	"github.com/webrtc-broker/webrtc-broker/internal/testmetrics"
	"github.com/webrtc-broker/webrtc-broker/internal/testtls"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// logBuffer keeps the coordinator's log for the test to read, and shows it
// in the test's log too.
type logBuffer struct {
	t  *testing.T
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSuffix(string(p), "\n"))
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func bufferedLogger(t *testing.T) (*slog.Logger, *logBuffer) {
	lb := &logBuffer{t: t}
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})), lb
}

// startTLS serves a coordinator on wss:// with a certificate for 127.0.0.1
// made in the test; it returns the coordinator, the leaf and its log.
func startTLS(t *testing.T, cfg Config) (*testCoordinator, *testtls.Leaf, *logBuffer) {
	t.Helper()
	leaf := testtls.NewCA(t, "coordinator-test").Leaf(t, "coord", "127.0.0.1")
	cfg.TLS = TLSConfig{Cert: leaf.CertFile, Key: leaf.KeyFile}
	log, lb := bufferedLogger(t)
	return startCoordinator(t, cfg, Options{Logger: log}, nil), leaf, lb
}

func tlsDialer(ca *testtls.CA) *websocket.Dialer {
	return &websocket.Dialer{TLSClientConfig: ca.ClientConfig(), HandshakeTimeout: waitTimeout}
}

// servedCert dials url and returns the certificate the coordinator
// presented, the socket left open until the test ends.
func servedCert(t *testing.T, d *websocket.Dialer, url string) (*testPeer, string) {
	t.Helper()
	p := dialPeerWith(t, d, url, nil)
	tc, ok := p.conn.NetConn().(*tls.Conn)
	if !ok {
		t.Fatalf("%s: not a TLS connection: %T", url, p.conn.NetConn())
	}
	return p, tc.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

func TestTLSServesWSS(t *testing.T) {
	tc, leaf, _ := startTLS(t, Config{})
	d := tlsDialer(leaf.CA)
	srv := dialPeerWith(t, d, "wss://"+tc.addr+"/discover?role=COMMUNICATION_SERVER", nil)
	srvAlias := srv.welcome().GetAlias()
	cli := dialPeerWith(t, d, "wss://"+tc.addr+"/connect", nil)
	cliAlias := cli.welcome().GetAlias()
	expectRelay(t, cli, cliAlias, srv, srvAlias)

	// Plain HTTP beside it: /healthz over https, and ws:// refused.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: leaf.CA.ClientConfig(), DisableKeepAlives: true}}
	resp, err := hc.Get("https://" + tc.addr + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz over https: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 1 {
		t.Fatalf("GET /healthz over https: %s %s, want 200 over HTTP/1.1", resp.Proto, resp.Status)
	}
	if conn, _, err := websocket.DefaultDialer.Dial("ws://"+tc.addr+"/connect", nil); err == nil {
		_ = conn.Close()
		t.Fatal("a plain ws:// socket was accepted on the TLS listener")
	}
}

func TestTLSUntrustedCertificateIsRefusedByTheDialer(t *testing.T) {
	tc, _, _ := startTLS(t, Config{})
	d := tlsDialer(testtls.NewCA(t, "another"))
	conn, _, err := d.Dial("wss://"+tc.addr+"/connect", nil)
	if err == nil {
		_ = conn.Close()
		t.Fatal("dial with another CA succeeded")
	}
	var unknown *tls.CertificateVerificationError
	if !errors.As(err, &unknown) {
		t.Fatalf("dial with another CA: %v, want a certificate verification error", err)
	}
}

// TestTLSReloadKeepsOpenSockets: a reload serves the new certificate from
// the next handshake on, and the sockets opened before go on relaying.
func TestTLSReloadKeepsOpenSockets(t *testing.T) {
	tc, leaf, lb := startTLS(t, Config{})
	d := tlsDialer(leaf.CA)
	srv, oldSerial := servedCert(t, d, "wss://"+tc.addr+"/discover?role=COMMUNICATION_SERVER")
	srvAlias := srv.welcome().GetAlias()
	cli := dialPeerWith(t, d, "wss://"+tc.addr+"/connect", nil)
	cliAlias := cli.welcome().GetAlias()

	next := leaf.CA.Leaf(t, "coord-next", "127.0.0.1")
	next.InstallAt(t, leaf.CertFile, leaf.KeyFile)
	if err := tc.ReloadCertificate(); err != nil {
		t.Fatalf("ReloadCertificate: %v", err)
	}
	if !strings.Contains(lb.String(), "TLS certificate reloaded") {
		t.Error("no log line for the reload")
	}
	late, newSerial := servedCert(t, d, "wss://"+tc.addr+"/connect")
	if want := next.Cert.SerialNumber.String(); newSerial != want || newSerial == oldSerial {
		t.Fatalf("after the reload the coordinator presents serial %s, want %s (before: %s)", newSerial, want, oldSerial)
	}
	lateAlias := late.welcome().GetAlias()
	// Both sockets opened under the old certificate are still served.
	expectRelay(t, cli, cliAlias, srv, srvAlias)
	expectRelay(t, srv, srvAlias, cli, cliAlias)
	expectRelay(t, late, lateAlias, srv, srvAlias)
	if got := tc.peerCount(); got != 3 {
		t.Fatalf("%d peers registered after the reload, want 3", got)
	}
}

// TestTLSBadReloadKeepsTheCurrentCertificate: whatever is wrong with the
// new files, the reload fails with an error naming them, logs it, and the
// coordinator goes on presenting the certificate it had.
func TestTLSBadReloadKeepsTheCurrentCertificate(t *testing.T) {
	tc, leaf, lb := startTLS(t, Config{})
	d := tlsDialer(leaf.CA)
	_, serial := servedCert(t, d, "wss://"+tc.addr+"/connect")
	other := leaf.CA.Leaf(t, "other", "127.0.0.1")
	expired := leaf.CA.ExpiredLeaf(t, "expired", "127.0.0.1")
	cases := []struct {
		name      string
		cert, key []byte
		want      string // in the error
	}{
		{"not PEM", []byte("not a certificate"), leaf.KeyPEM, "tls.cert"},
		{"truncated", leaf.CertPEM[:len(leaf.CertPEM)/2], leaf.KeyPEM, "tls.cert"},
		{"key of another certificate", other.CertPEM, leaf.KeyPEM, "private key does not match"},
		{"expired", expired.CertPEM, expired.KeyPEM, "not now"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mark := len(lb.String())
			writeFile(t, leaf.CertFile, c.cert)
			writeFile(t, leaf.KeyFile, c.key)
			err := tc.ReloadCertificate()
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), leaf.CertFile) {
				t.Fatalf("ReloadCertificate: %v, want an error naming %s and saying %q", err, leaf.CertFile, c.want)
			}
			if !strings.Contains(lb.String()[mark:], "TLS certificate reload failed, keeping the current one") {
				t.Error("the failed reload was not logged")
			}
			if _, got := servedCert(t, d, "wss://"+tc.addr+"/connect"); got != serial {
				t.Fatalf("after a failed reload the coordinator presents serial %s, want the old %s", got, serial)
			}
		})
	}
	// And a good pair afterwards is taken.
	leaf.InstallAt(t, leaf.CertFile, leaf.KeyFile)
	if err := tc.ReloadCertificate(); err != nil {
		t.Fatalf("reload of the original pair: %v", err)
	}
	if ok, bad := metricValue(t, tc.Coordinator, "coordinator_tls_reloads_total", "result", "ok"),
		metricValue(t, tc.Coordinator, "coordinator_tls_reloads_total", "result", "error"); ok != 1 || bad != float64(len(cases)) {
		t.Errorf("coordinator_tls_reloads_total: ok %g, error %g; want 1 and %d", ok, bad, len(cases))
	}
	if got, want := metricValue(t, tc.Coordinator, "coordinator_tls_certificate_not_after_seconds"), float64(leaf.Cert.NotAfter.Unix()); got != want {
		t.Errorf("coordinator_tls_certificate_not_after_seconds = %g, want %g", got, want)
	}
}

func TestTLSReloadWithoutTLS(t *testing.T) {
	tc := startCoordinator(t, Config{}, Options{}, nil)
	if err := tc.ReloadCertificate(); !errors.Is(err, errNoTLS) {
		t.Fatalf("ReloadCertificate without tls.cert: %v, want %v", err, errNoTLS)
	}
}

func TestTLSConfigIsChecked(t *testing.T) {
	leaf := testtls.NewCA(t, "config").Leaf(t, "coord", "127.0.0.1")
	missing := leaf.CertFile + ".missing"
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"cert without key", Config{TLS: TLSConfig{Cert: leaf.CertFile}}, "set both or neither"},
		{"key without cert", Config{TLS: TLSConfig{Key: leaf.KeyFile}}, "set both or neither"},
		{"missing cert file", Config{TLS: TLSConfig{Cert: missing, Key: leaf.KeyFile}}, missing},
		{"key as cert", Config{TLS: TLSConfig{Cert: leaf.KeyFile, Key: leaf.KeyFile}}, "tls.cert"},
		{"origin with a path", Config{AllowedOrigins: []string{"https://app.example.com/page"}}, "allowed_origins"},
		{"origin without scheme", Config{AllowedOrigins: []string{"app.example.com"}}, "allowed_origins"},
		{"origin of another scheme", Config{AllowedOrigins: []string{"ftp://app.example.com"}}, "allowed_origins"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.Cluster.Secret = testSecret
			_, err := New(c.cfg, Options{Logger: testLogger(t)})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New: %v, want an error containing %q", err, c.want)
			}
		})
	}
}

// TestOriginPolicy: allowed_origins decides which browser pages may open
// /connect; a refused one gets 403 and a log line naming its origin.
// /discover is never origin-checked.
func TestOriginPolicy(t *testing.T) {
	list := []string{"https://app.example.com", "HTTP://Local.Example:8080", "https://default-port.example:443"}
	cases := []struct {
		name    string
		tls     bool
		allowed []string
		origin  string // "" sends none; "HOST" is the coordinator's own https origin
		ok      bool
	}{
		{"plain, no list, any page", false, nil, "https://evil.example", true},
		{"plain, no list, no origin", false, nil, "", true},
		{"tls, no list, own origin", true, nil, "HOST", true},
		{"tls, no list, another page", true, nil, "https://evil.example", false},
		{"tls, no list, same host over http", true, nil, "http://HOST", false},
		{"tls, no list, null origin", true, nil, "null", false},
		{"tls, no list, no origin (not a browser)", true, nil, "", true},
		{"listed", true, list, "https://app.example.com", true},
		{"listed, case and default port", false, list, "https://default-port.example", true},
		{"listed, case differs", true, list, "http://local.example:8080", true},
		{"not listed", true, list, "https://evil.example", false},
		{"listed host, other scheme", true, list, "http://app.example.com", false},
		{"listed host, other port", true, list, "https://app.example.com:8443", false},
		{"list excludes own origin", true, list, "HOST", false},
		{"plain with a list applies it", false, list, "https://evil.example", false},
		{"wildcard", true, []string{"*"}, "https://evil.example", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := Config{AllowedOrigins: c.allowed}
			d := websocket.DefaultDialer
			scheme := "ws://"
			var tc *testCoordinator
			var lb *logBuffer
			if c.tls {
				var leaf *testtls.Leaf
				tc, leaf, lb = startTLS(t, cfg)
				d, scheme = tlsDialer(leaf.CA), "wss://"
			} else {
				var log *slog.Logger
				log, lb = bufferedLogger(t)
				tc = startCoordinator(t, cfg, Options{Logger: log}, nil)
			}
			origin := c.origin
			switch origin {
			case "HOST":
				origin = "https://" + tc.addr
			case "http://HOST":
				origin = "http://" + tc.addr
			}
			h := http.Header{}
			if origin != "" {
				h.Set("Origin", origin)
			}
			conn, resp, err := d.Dial(scheme+tc.addr+"/connect", h)
			if resp != nil && resp.Body != nil {
				_ = resp.Body.Close()
			}
			if c.ok {
				if err != nil {
					t.Fatalf("origin %q refused: %v", origin, err)
				}
				_ = conn.Close()
				return
			}
			if err == nil {
				_ = conn.Close()
				t.Fatalf("origin %q accepted, want 403", origin)
			}
			if resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Fatalf("origin %q: %v (response %v), want HTTP 403", origin, err, resp)
			}
			if !strings.Contains(lb.String(), "origin not allowed") || !strings.Contains(lb.String(), "origin="+origin) {
				t.Fatalf("no log line naming origin %q", origin)
			}
			// Servers have no Origin to check: the same header on /discover
			// does not keep a server out.
			srv := dialPeerWith(t, d, scheme+tc.addr+"/discover?role=COMMUNICATION_SERVER", h)
			if srv.welcome().GetAlias() == 0 {
				t.Fatal("server not welcomed")
			}
			if got := testmetrics.Sum(t, tc.reg, "coordinator_auth_denials_total", map[string]string{"role": protocol.Role_CLIENT.String()}); got != 0 {
				t.Errorf("an origin refusal counted as %g auth denials", got)
			}
		})
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestOriginRefusalWarningsAreBounded: a page retrying in a loop gets every
// refusal logged, but only a burst of them as warnings.
func TestOriginRefusalWarningsAreBounded(t *testing.T) {
	leaf := testtls.NewCA(t, "coordinator-test").Leaf(t, "coord", "127.0.0.1")
	log, lb := bufferedLogger(t)
	// No refill: the count does not depend on how fast this machine is.
	tc := startCoordinator(t, Config{TLS: TLSConfig{Cert: leaf.CertFile, Key: leaf.KeyFile}}, Options{Logger: log},
		func(c *Coordinator) { c.originWarnings.b = ratelimit.New(0, cutWarningBurst, time.Now()) })
	d := tlsDialer(leaf.CA)
	const tries = 3 * cutWarningBurst
	for range tries {
		conn, resp, err := d.Dial("wss://"+tc.addr+"/connect", http.Header{"Origin": {"https://evil.example"}})
		if err == nil {
			_ = conn.Close()
			t.Fatal("a foreign origin was accepted")
		}
		if resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("refusal: %v, want 403", err)
		}
		_ = resp.Body.Close()
	}
	out := lb.String()
	all := strings.Count(out, "origin not allowed")
	warnings := strings.Count(out, `level=WARN msg="browser socket refused: origin not allowed"`)
	if all != tries || warnings != cutWarningBurst {
		t.Fatalf("%d refusals logged (want %d), %d of them warnings (want the burst of %d, not all)", all, tries, warnings, cutWarningBurst)
	}
}
