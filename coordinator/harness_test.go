package coordinator

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/core/clusterauth"
	"github.com/webrtc-broker/webrtc-broker/internal/testmetrics"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// waitTimeout bounds every wait for an event in these tests. It is generous
// because the race detector on a shared 2-core machine is slow; a passing
// test never waits for it.
const waitTimeout = 10 * time.Second

// testCoordinator is a coordinator serving on a real loopback socket.
type testCoordinator struct {
	*Coordinator
	addr string // host:port
	// stop cancels Serve and returns what it returned; safe to call twice.
	stop func() error
}

func (tc *testCoordinator) wsURL(path string) string { return "ws://" + tc.addr + path }

// startCoordinator serves a new coordinator on 127.0.0.1:0 (or on addr when
// given) until the test ends. tweak, if not nil, adjusts it before Serve.
func startCoordinator(t *testing.T, cfg Config, opts Options, tweak func(*Coordinator)) *testCoordinator {
	t.Helper()
	return startCoordinatorAt(t, "127.0.0.1:0", cfg, opts, tweak)
}

func startCoordinatorAt(t *testing.T, addr string, cfg Config, opts Options, tweak func(*Coordinator)) *testCoordinator {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	if cfg.Cluster.Secret == "" && opts.Auth == nil {
		// With neither, /discover refuses every server; dialPeer proves it.
		cfg.Cluster.Secret = testSecret
	}
	c, err := New(cfg, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if tweak != nil {
		tweak(c)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- c.Serve(ctx, ln) }()
	stop := sync.OnceValue(func() error {
		cancel()
		select {
		case err := <-served:
			return err
		case <-time.After(waitTimeout):
			t.Errorf("Serve did not return within %s of cancel", waitTimeout)
			return nil
		}
	})
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &testCoordinator{Coordinator: c, addr: ln.Addr().String(), stop: stop}
}

// testLogger sends the coordinator's log to the test's log, shown on failure
// and with -v.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(b), "\n"))
	return len(b), nil
}

// testPeer is a gorilla WebSocket client. A goroutine reads it (which also
// answers pings) and hands each message to msgs; the read error that ends
// it goes to closed.
type testPeer struct {
	t      *testing.T
	conn   *websocket.Conn
	msgs   chan []byte
	closed chan error
}

type peerOption func(*websocket.Conn)

// withoutPongs makes the peer ignore pings, like a peer that hung.
func withoutPongs(c *websocket.Conn) { c.SetPingHandler(func(string) error { return nil }) }

// testSecret is the cluster.secret of the test coordinators that have no
// authenticator, and what dialPeer proves on /discover.
const testSecret = "coordinator-test-secret-0123456789"

// discoverHeader proves testSecret for a /discover URL's role; nil for
// other URLs.
func discoverHeader(t *testing.T, rawURL string) http.Header {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatalf("parse %s: %v", rawURL, err)
	}
	if u.Path != "/discover" {
		return nil
	}
	role := protocol.Role(protocol.Role_value[u.Query().Get("role")])
	return http.Header{clusterauth.Header: {clusterauth.DiscoverToken(testSecret, role, time.Now())}}
}

func dialPeer(t *testing.T, url string, opts ...peerOption) *testPeer {
	t.Helper()
	return dialPeerWith(t, websocket.DefaultDialer, url, nil, opts...)
}

// dialPeerWith is dialPeer with a dialer (TLS settings) and extra headers.
func dialPeerWith(t *testing.T, d *websocket.Dialer, url string, header http.Header, opts ...peerOption) *testPeer {
	t.Helper()
	h := discoverHeader(t, url)
	if h == nil {
		h = http.Header{}
	}
	for k, vs := range header {
		h[k] = vs
	}
	conn, resp, err := d.Dial(url, h)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (HTTP %d)", url, err, status)
	}
	for _, o := range opts {
		o(conn)
	}
	p := &testPeer{t: t, conn: conn, msgs: make(chan []byte, 256), closed: make(chan error, 1)}
	go func() {
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				p.closed <- err
				close(p.msgs)
				return
			}
			p.msgs <- data
		}
	}()
	t.Cleanup(func() {
		_ = conn.Close()
		for range p.msgs { // let the reader finish
		}
	})
	return p
}

func dialClient(t *testing.T, tc *testCoordinator) *testPeer {
	t.Helper()
	return dialPeer(t, tc.wsURL("/connect"))
}

func dialServer(t *testing.T, tc *testCoordinator) *testPeer {
	t.Helper()
	return dialPeer(t, tc.wsURL("/discover?role=COMMUNICATION_SERVER"))
}

func dialHub(t *testing.T, tc *testCoordinator) *testPeer {
	t.Helper()
	return dialPeer(t, tc.wsURL("/discover?role=COMMUNICATION_SERVER_HUB"))
}

// dialStatus dials (proving testSecret on /discover) and returns the HTTP
// status of a refused handshake.
func dialStatus(t *testing.T, url string) int {
	t.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial(url, discoverHeader(t, url))
	if err == nil {
		_ = conn.Close()
		return http.StatusSwitchingProtocols
	}
	if !errors.Is(err, websocket.ErrBadHandshake) || resp == nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

func (p *testPeer) send(m proto.Message) {
	p.t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		p.t.Fatalf("marshal: %v", err)
	}
	p.sendRaw(b)
}

func (p *testPeer) sendRaw(b []byte) {
	p.t.Helper()
	if err := p.conn.WriteMessage(websocket.BinaryMessage, b); err != nil {
		p.t.Fatalf("write: %v", err)
	}
}

// next returns the next message the coordinator sent.
func (p *testPeer) next() []byte {
	p.t.Helper()
	select {
	case b, ok := <-p.msgs:
		if !ok {
			p.t.Fatalf("socket closed while waiting for a message: %v", <-p.closed)
		}
		return b
	case <-time.After(waitTimeout):
		p.t.Fatalf("no message within %s", waitTimeout)
	}
	return nil
}

// welcome reads the WELCOME that must be the first message.
func (p *testPeer) welcome() *protocol.WelcomeMessage {
	p.t.Helper()
	w := decode[protocol.WelcomeMessage](p.t, p.next())
	if w.GetType() != protocol.MessageType_WELCOME || w.GetAlias() == 0 {
		p.t.Fatalf("want a WELCOME with an alias, got %v", w)
	}
	return w
}

// waitClosed waits for the coordinator to close the socket and returns the
// read error (a *websocket.CloseError when a close frame came).
func (p *testPeer) waitClosed() error {
	p.t.Helper()
	deadline := time.After(waitTimeout)
	for {
		select {
		case _, ok := <-p.msgs:
			if !ok {
				return <-p.closed
			}
		case <-deadline:
			p.t.Fatalf("socket still open after %s", waitTimeout)
		}
	}
}

// decode unmarshals b as an M.
func decode[M any, PM interface {
	*M
	proto.Message
}](t *testing.T, b []byte) PM {
	t.Helper()
	m := PM(new(M))
	if err := proto.Unmarshal(b, m); err != nil {
		t.Fatalf("decode %T: %v", m, err)
	}
	return m
}

// serverCount is how many servers the coordinator has registered.
func (c *Coordinator) serverCount() int {
	c.dir.mu.Lock()
	defer c.dir.mu.Unlock()
	return len(c.dir.servers)
}

// peerCount is how many peers the coordinator has registered.
func (c *Coordinator) peerCount() int {
	c.dir.mu.Lock()
	defer c.dir.mu.Unlock()
	return len(c.dir.peers)
}

// metricValue reads one metric from the coordinator's registry, summed over
// the series whose labels include labels (name=value pairs).
func metricValue(t *testing.T, c *Coordinator, name string, labels ...string) float64 {
	t.Helper()
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	return testmetrics.Value(t, c.reg, name, want)
}

// connect sends a CONNECT from p to alias.
func connectMsg(to uint64) *protocol.ConnectMessage {
	return &protocol.ConnectMessage{Type: protocol.MessageType_CONNECT, ToAlias: to}
}

// expectRelay has from send a CONNECT to the peer to and checks that it
// arrives stamped with from's alias: proof that both sockets are served.
func expectRelay(t *testing.T, from *testPeer, fromAlias uint64, to *testPeer, toAlias uint64) {
	t.Helper()
	from.send(connectMsg(toAlias))
	got := decode[protocol.ConnectMessage](t, to.next())
	if got.GetType() != protocol.MessageType_CONNECT || got.GetFromAlias() != fromAlias || got.GetToAlias() != toAlias {
		t.Fatalf("relayed CONNECT: got %v, want from %d to %d", got, fromAlias, toAlias)
	}
}
