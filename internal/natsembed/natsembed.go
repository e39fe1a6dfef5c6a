// Package natsembed runs a NATS server inside the process, on 127.0.0.1
// only: the one-machine default of cluster.transport=nats (brokerctl
// cluster --nats) and the NATS server the tests use. It owns the
// nats-server library's options, its logging (through slog) and the wait
// for readiness; production points nats.url at a real NATS cluster instead.
//
// A node may join a cluster of nodes by routes (Config.Cluster): the tests'
// three-node cluster is three nodes of this package, each routed to the
// first.
package natsembed

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Host is the only address an embedded server listens on.
const Host = "127.0.0.1"

// readyTimeout bounds the wait for a started server to accept clients.
const readyTimeout = 10 * time.Second

// Config says how to run one embedded node. The zero value is a single
// node on a random port.
type Config struct {
	// Port is the client port; 0 picks a free one.
	Port int
	// Name is the node's server name (also in its log lines); empty lets
	// the library generate one.
	Name string
	// Cluster, when set, opens a route listener and joins the routes.
	Cluster *Cluster
	// Logger receives the server's log (notices at info, warnings and
	// errors at theirs); nil discards it.
	Logger *slog.Logger
	// Token, when set, is required of every client (nats.token).
	Token string
	// TLS, when set, makes clients connect with TLS (tls:// URLs).
	TLS *tls.Config
}

// Cluster is a node's part in a NATS cluster joined by routes.
type Cluster struct {
	Name   string   // the cluster's name, the same on every node
	Port   int      // the route port; 0 picks a free one
	Routes []string // route URLs of other nodes (nats-route://127.0.0.1:PORT)
}

// Server is one running embedded node.
type Server struct {
	ns *server.Server
}

var errNotReady = errors.New("natsembed: server not ready for connections")

// Start starts a node and waits until it accepts clients.
func Start(cfg Config) (*Server, error) {
	opts := &server.Options{
		ServerName: cfg.Name,
		Host:       Host,
		Port:       portOrRandom(cfg.Port),
		NoSigs:     true, // the embedding process owns its signals
		NoLog:      cfg.Logger == nil,
		// No monitoring, no JetStream, no leaf nodes, no websocket: a
		// plain core NATS server.
		HTTPPort:      0,
		Authorization: cfg.Token,
	}
	if cfg.TLS != nil {
		opts.TLSConfig, opts.TLS, opts.TLSTimeout = cfg.TLS, true, 5 // seconds: a loaded machine
	}
	if c := cfg.Cluster; c != nil {
		opts.Cluster = server.ClusterOpts{
			Name: c.Name, Host: Host, Port: portOrRandom(c.Port),
			// One route per pair of nodes: with pooling, a cluster's routes
			// come up one pool member at a time and cannot be counted.
			PoolSize: -1,
		}
		for _, r := range c.Routes {
			u, err := url.Parse(r)
			if err != nil {
				return nil, fmt.Errorf("natsembed: route %q: %w", r, err)
			}
			opts.Routes = append(opts.Routes, u)
		}
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natsembed: %w", err)
	}
	if cfg.Logger != nil {
		ns.SetLogger(slogAdapter{cfg.Logger}, false, false)
	}
	ns.Start()
	if !ns.ReadyForConnections(readyTimeout) {
		ns.Shutdown()
		return nil, errNotReady
	}
	return &Server{ns: ns}, nil
}

// StartCluster starts n nodes routed to one another (each to the first)
// and waits until every node has a route to every other.
func StartCluster(n int, name string, logger *slog.Logger) ([]*Server, error) {
	var nodes []*Server
	stop := func() {
		for _, s := range nodes {
			s.Shutdown()
		}
	}
	for i := range n {
		c := &Cluster{Name: name}
		if i > 0 {
			c.Routes = []string{nodes[0].RouteURL()}
		}
		var l *slog.Logger
		if logger != nil {
			l = logger.With("nats_node", i)
		}
		s, err := Start(Config{Name: fmt.Sprintf("%s-%d", name, i), Cluster: c, Logger: l})
		if err != nil {
			stop()
			return nil, err
		}
		nodes = append(nodes, s)
	}
	deadline := time.Now().Add(readyTimeout)
	for _, s := range nodes {
		for s.ns.NumRoutes() < n-1 {
			if time.Now().After(deadline) {
				stop()
				return nil, fmt.Errorf("natsembed: cluster %s: node %s has %d routes, want %d",
					name, s.ns.Name(), s.ns.NumRoutes(), n-1)
			}
			time.Sleep(10 * time.Millisecond) // polling a condition, with a deadline
		}
	}
	return nodes, nil
}

// ClientURL is the URL clients connect to: nats://127.0.0.1:PORT.
func (s *Server) ClientURL() string { return s.ns.ClientURL() }

// Port is the bound client port.
func (s *Server) Port() int {
	if a, ok := s.ns.Addr().(*net.TCPAddr); ok {
		return a.Port
	}
	return 0
}

// RouteURL is the URL other nodes route to, or "" without a cluster.
func (s *Server) RouteURL() string {
	a := s.ns.ClusterAddr()
	if a == nil {
		return ""
	}
	return "nats-route://" + net.JoinHostPort(Host, strconv.Itoa(a.Port))
}

// Interest counts the subscriptions on this node matching subject, local
// clients' and those routed from other nodes: how a test sees a
// communication server subscribe and unsubscribe.
func (s *Server) Interest(subject string) int {
	return s.ns.GlobalAccount().Interest(subject)
}

// Clients is the number of client connections to this node.
func (s *Server) Clients() int { return s.ns.NumClients() }

// Shutdown stops the node, closing every client and route connection, and
// waits until it has stopped. Calling it again is a no-op.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}

func portOrRandom(p int) int {
	if p == 0 {
		return server.RANDOM_PORT
	}
	return p
}

// slogAdapter is the nats-server Logger interface on a slog.Logger.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Noticef(format string, v ...any) { a.l.Info(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Warnf(format string, v ...any)   { a.l.Warn(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Fatalf(format string, v ...any)  { a.l.Error(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Errorf(format string, v ...any)  { a.l.Error(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Debugf(format string, v ...any)  { a.l.Debug(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Tracef(format string, v ...any)  { a.l.Debug(fmt.Sprintf(format, v...)) }
