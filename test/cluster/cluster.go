// Package cluster starts a whole broker in the test process: a
// coordinator on a loopback port and communication servers in loopback-only
// WebRTC mode, ready (registered and meshed) when Start returns, and stopped
// by t.Cleanup. It also gives tests the message helpers they share: Receive,
// Next, Body (polling a condition is internal/testwait.For). End-to-end tests of commserver, of the plugins,
// of the Lua policies and of the load generator build on it.
//
// Logs are discarded unless BROKER_TEST_LOG=1, which sends every component's
// debug log to stderr.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/commserver"
	"github.com/webrtc-broker/webrtc-broker/coordinator"
	"github.com/webrtc-broker/webrtc-broker/core/logging"
	"github.com/webrtc-broker/webrtc-broker/core/rtcconfig"
	"github.com/webrtc-broker/webrtc-broker/internal/natsembed"
	"github.com/webrtc-broker/webrtc-broker/internal/testtls"
	"github.com/webrtc-broker/webrtc-broker/internal/testwait"
)

// Options say what cluster to start. The zero value is one server.
type Options struct {
	// Servers is the number of communication servers; 0 means 1.
	Servers int
	// Selector is the coordinator's selector; empty means random, or star
	// when Hub is set.
	Selector string
	// Hub makes server 0 a hub (role=hub).
	Hub bool
	// Coordinator, Server, CoordinatorOptions and ServerOptions adjust each
	// component's config and collaborators (auth, policy) before it starts.
	// Transport is every server's cluster.transport: "" or "mesh" (links
	// between servers), or "nats". With nats and no NATSURLs, Start runs
	// an embedded NATS server (NATS) for the whole cluster.
	Transport string
	// NATSURLs gives server i its nats.url; nil = the embedded server.
	NATSURLs           func(i int) []string
	Coordinator        func(*coordinator.Config)
	Server             func(i int, cfg *commserver.Config)
	CoordinatorOptions func(*coordinator.Options)
	ServerOptions      func(i int, o *commserver.Options)
	// TLS serves the coordinator on wss:// with a certificate for
	// 127.0.0.1 made in the test (Cluster.TLS): the servers trust its CA
	// through coordinator_ca, the clients Dial makes through TLSConfig.
	TLS bool
	// Coordinators is the number of coordinators; 0 means 1. Coordinator i
	// gets coordinator.id i of coordinator.count Coordinators (before the
	// Coordinator adjustment), and every server has all of them in its
	// coordinator_url. Clients dial coordinator 0 unless given Via(i).
	Coordinators int
}

// Secret returns the cluster.secret every component of the cluster is given
// (before Options' adjustments, which may change it). Each cluster has its
// own: test processes running at once reuse each other's freed ports, and a
// server of one, redialing a coordinator its test stopped, must not join
// another's cluster that took the port meanwhile (under 8 concurrent copies
// a "late" server of TestServerJoinsWhileACoordinatorIsDown once registered
// with TestNoDoubleLinks's coordinator, and both failed).
func (c *Cluster) Secret() string { return c.secret }

// newSecret returns a cluster secret no other cluster has.
func newSecret() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return "test-cluster-secret-" + hex.EncodeToString(b)
}

// Timeouts: generous, because a loaded CI machine with -race is slow, but
// every wait returns as soon as its event happens.
const (
	// ReadyTimeout bounds starting a cluster or a component.
	ReadyTimeout = 20 * time.Second
	// EventTimeout is what tests give one expected event.
	EventTimeout = 10 * time.Second
)

// Cluster is a running set of coordinators and their servers.
type Cluster struct {
	opts   Options
	tls    *testtls.Leaf
	secret string // see Secret

	// coords are the coordinators (coordinators.go); mu guards each one's
	// stop and done, which StopCoordinator and StartCoordinator replace,
	// and serverErrs/serverOver.
	mu     sync.Mutex
	coords []*coord

	nats *natsembed.Server // the embedded NATS server, when Start ran one

	servers     []*commserver.Server
	registries  []*prometheus.Registry
	stopServers context.CancelFunc
	stopServer  []context.CancelFunc
	serversDone []chan error
	serverErrs  []error // set once a server's done has been read, by StopServer or stop
	serverOver  []bool
}

// Start starts the cluster and waits until every server has registered with
// the coordinator and linked to every server it should (mesh: all others;
// star: the hub and its servers). t.Cleanup stops everything and waits.
func Start(t testing.TB, o Options) *Cluster {
	t.Helper()
	if o.Servers <= 0 {
		o.Servers = 1
	}
	if o.Selector == "" && o.Hub {
		o.Selector = "star"
	}
	if o.Coordinators <= 0 {
		o.Coordinators = 1
	}
	c := &Cluster{opts: o, secret: newSecret()}
	lns := c.listenCoordinators(t)
	if o.TLS {
		c.tls = testtls.NewCA(t, "cluster").Leaf(t, "coordinator", "127.0.0.1")
	}
	if o.Transport == commserver.TransportNATS && o.NATSURLs == nil {
		ns, err := natsembed.Start(natsembed.Config{})
		if err != nil {
			closeAll(lns)
			t.Fatalf("cluster: embedded NATS: %v", err)
		}
		// Registered first, so it runs last: after the servers are gone.
		t.Cleanup(ns.Shutdown)
		c.nats = ns
	}
	t.Cleanup(func() { c.stop(t) })
	for i, ln := range lns {
		c.serveCoordinator(t, i, ln)
	}

	ctx, cancel := context.WithCancel(context.Background())
	c.stopServers = cancel
	for i := 0; i < o.Servers; i++ {
		cfg := commserver.Config{CoordinatorURLs: c.URLs(), Role: commserver.RoleServer}
		cfg.WebRTC = rtcconfig.Config{LoopbackOnly: true}
		cfg.Cluster.Secret = c.secret
		if c.tls != nil {
			cfg.CoordinatorCA = c.tls.CA.File
		}
		// Re-register quickly after a coordinator restart: tests wait for it.
		cfg.Reconnect.Min, cfg.Reconnect.Max = 20*time.Millisecond, 200*time.Millisecond
		if o.Hub && i == 0 {
			cfg.Role = commserver.RoleHub
		}
		if o.Transport != "" {
			cfg.Cluster.Transport = o.Transport
		}
		switch {
		case o.NATSURLs != nil:
			cfg.NATS.URL = o.NATSURLs(i)
		case c.nats != nil:
			cfg.NATS.URL = []string{c.nats.ClientURL()}
		}
		if o.Server != nil {
			o.Server(i, &cfg)
		}
		opts := commserver.Options{Logger: Logger(fmt.Sprintf("server%d", i)), Registry: prometheus.NewRegistry()}
		if o.ServerOptions != nil {
			o.ServerOptions(i, &opts)
		}
		c.registries = append(c.registries, opts.Registry)
		s, err := commserver.New(cfg, opts)
		if err != nil {
			t.Fatalf("cluster: server %d: %v", i, err)
		}
		sctx, scancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- s.Run(sctx) }()
		c.stopServer = append(c.stopServer, scancel)
		c.serverErrs = append(c.serverErrs, nil)
		c.serverOver = append(c.serverOver, false)
		c.servers = append(c.servers, s)
		c.serversDone = append(c.serversDone, done)
	}
	c.WaitReady(t)
	return c
}

// TLS is the coordinator's certificate (and its CA) with Options.TLS, else
// nil.
func (c *Cluster) TLS() *testtls.Leaf { return c.tls }

// Server returns server i (0 is the hub when Options.Hub is set).
func (c *Cluster) Server(i int) *commserver.Server { return c.servers[i] }

// NATS is the embedded NATS server Start ran (Transport nats without
// NATSURLs), or nil.
func (c *Cluster) NATS() *natsembed.Server { return c.nats }

// Servers is the number of servers.
func (c *Cluster) Servers() int { return len(c.servers) }

// ExpectedLinks is how many server links server i has once the cluster is
// meshed: every other server, or in a star the hub's servers and a
// server's hub. Servers stopped by StopServer do not count.
func (c *Cluster) ExpectedLinks(i int) int {
	n := len(c.servers)
	c.mu.Lock()
	for _, over := range c.serverOver {
		if over {
			n--
		}
	}
	c.mu.Unlock()
	if c.opts.Transport == commserver.TransportNATS {
		return 0 // no links: messages go through NATS
	}
	if c.opts.Selector != "star" {
		return n - 1
	}
	switch {
	case !c.opts.Hub:
		return 0
	case i == 0:
		return n - 1
	default:
		return 1
	}
}

// WaitReady waits until every server is registered with every running
// coordinator (an alias, the links up) and has its expected server links.
func (c *Cluster) WaitReady(t testing.TB) {
	t.Helper()
	testwait.For(t, ReadyTimeout, "every server registered and meshed", func() bool {
		running := c.runningCoordinators()
		for i, s := range c.servers {
			if c.isStopped(i) {
				continue
			}
			st := s.Stats()
			if st.Alias == 0 || !st.CoordinatorConnected || st.Coordinators != running || st.Servers != c.ExpectedLinks(i) {
				return false
			}
			if c.opts.Transport == commserver.TransportNATS && !st.NATSConnected {
				return false
			}
		}
		return true
	})
}

// On places a client on server i: pass it to Client or Dial.
func (c *Cluster) On(i int) func(*client.Config) {
	alias := c.servers[i].Stats().Alias
	return func(cfg *client.Config) { cfg.Server = alias }
}

// Client dials a client with loopback-only WebRTC and the cluster's URL,
// after mod, and fails the test if it cannot connect. t.Cleanup closes it.
func (c *Cluster) Client(t testing.TB, mod ...func(*client.Config)) *client.Client {
	t.Helper()
	cl, err := c.Dial(t, mod...)
	if err != nil {
		t.Fatalf("cluster: client: %v", err)
	}
	return cl
}

// Dial is Client for tests that expect an error: it returns it.
//
// Its clients do not reconnect (Reconnect.Disabled): the tests built on the
// cluster check that a server closes an offender, or that nobody else was
// disconnected, through Done, which a reconnecting client would hide. Tests
// of reconnection turn it back on in mod.
func (c *Cluster) Dial(t testing.TB, mod ...func(*client.Config)) (*client.Client, error) {
	t.Helper()
	cfg := client.Config{
		CoordinatorURL: c.URL(), // Via(i) for another coordinator
		WebRTC:         rtcconfig.Config{LoopbackOnly: true},
		Logger:         Logger("client"),
		ConnectTimeout: ReadyTimeout,
		Reconnect:      client.Reconnect{Disabled: true},
	}
	if c.tls != nil {
		cfg.TLSConfig = c.tls.CA.ClientConfig()
	}
	for _, m := range mod {
		m(&cfg)
	}
	cl, err := client.Dial(context.Background(), cfg)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = cl.Close() })
	return cl, nil
}

// isStopped reports whether server i was stopped (StopServer): WaitReady
// and ExpectedLinks leave it out.
func (c *Cluster) isStopped(i int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return i < len(c.serverOver) && c.serverOver[i]
}

// StopServer stops server i and waits until it has closed its peers and
// its coordinator link; the others keep running. Stopping twice is a no-op.
func (c *Cluster) StopServer(t testing.TB, i int) {
	t.Helper()
	c.stopServer[i]()
	if err := c.waitServer(i); err != nil {
		t.Fatalf("cluster: stop server %d: %v", i, err)
	}
}

// DrainServer drains server i as SIGTERM does (commserver.Server.Drain:
// its clients are told to move, for up to its shutdown.grace), then stops
// it. It returns how long the drain took.
func (c *Cluster) DrainServer(t testing.TB, i int) time.Duration {
	t.Helper()
	start := time.Now()
	c.servers[i].Drain(context.Background())
	took := time.Since(start)
	c.StopServer(t, i)
	return took
}

func (c *Cluster) waitServer(i int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.serverOver[i] {
		c.serverErrs[i] = waitDone(c.serversDone[i], ReadyTimeout)
		c.serverOver[i] = true
	}
	return c.serverErrs[i]
}

// stop stops the servers, then the coordinator, and waits for both.
func (c *Cluster) stop(t testing.TB) {
	if c.stopServers != nil {
		c.stopServers()
	}
	for i := range c.serversDone {
		if err := c.waitServer(i); err != nil {
			t.Errorf("cluster: stop server %d: %v", i, err)
		}
	}
	for i := range c.coords {
		c.StopCoordinatorAt(t, i)
	}
}

var errStuck = errors.New("did not stop in time")

func waitDone(done <-chan error, timeout time.Duration) error {
	select {
	case err := <-done:
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	case <-time.After(timeout):
		return errStuck
	}
}

// Logger is what every component of a test cluster logs to: nothing, or
// stderr at debug level when BROKER_TEST_LOG=1.
func Logger(component string) *slog.Logger {
	if os.Getenv("BROKER_TEST_LOG") != "1" {
		return logging.Discard()
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).
		With("component", component)
}
