// Package coordinator is the broker's single entry point: an HTTP server whose
// WebSocket endpoints authenticate every peer, give it a cluster-unique alias
// and a WELCOME listing the communication servers it may use, and relay the
// WebRTC signaling (CONNECT, offers, answers, ICE candidates,
// CONNECTION_REFUSED) between aliases, stamping from_alias with the sender's
// real alias. It owns peer sockets (keepalive, read limit, per-peer send
// queue), the table of live peers and servers, the server selectors and the
// coordinator's metrics. It keeps nothing on disk: after a restart, servers
// re-register and clients reconnect (aliases stay unique: see aliasSource).
// Several coordinators may serve one cluster, sharing nothing: every server
// registers at each under one alias (/discover?alias=), and each draws its
// aliases from its own partition (coordinator.id of coordinator.count).
//
// With tls.cert and tls.key, Serve speaks https and wss:// and
// ReloadCertificate swaps the pair for new handshakes (SIGHUP in the
// binary); allowed_origins decides which browser pages may open /connect
// (tls.go).
//
// Bad input never reaches another peer: a WebSocket message over
// max_message_size (64 KiB by default) closes that socket with 1009; an
// undecodable message, a type the coordinator does not relay, a missing or
// forbidden to_alias (a client may only address servers) is logged with the
// peer's alias and dropped, and the tenth such message closes the socket with
// 1008. A peer that does not answer pings for twice ping_interval, or a
// client whose send queue stays full (it does not read), is closed.
//
// No sender can fill another peer's queue (see signalLimit): a client's
// signaling is rate-limited (signal.rate, signal.burst), every sender's bytes
// queued towards one receiver are bounded (signal.pair_bytes), and a server's
// full queue refuses the message rather than closing the server; a client
// that keeps sending over its limits is cut with 1008.
package coordinator

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/webrtc-broker/webrtc-broker/core/auth"
	"github.com/webrtc-broker/webrtc-broker/core/ratelimit"
	"github.com/webrtc-broker/webrtc-broker/core/routines"
)

// Options are the coordinator's collaborators.
type Options struct {
	Logger *slog.Logger // nil = slog.Default()
	Auth   auth.Authenticator
	// Registry receives the coordinator's metrics and is what /metrics
	// serves; nil = a new registry. Pass one to show other components'
	// metrics (the auth plugin host's, Go runtime's) on the same endpoint.
	Registry *prometheus.Registry
}

// Coordinator is the coordinator service. Create it with New, then either
// Serve it on a listener or mount Handler in an HTTP server of your own.
type Coordinator struct {
	cfg      Config
	log      *slog.Logger
	auth     auth.Authenticator
	reg      *prometheus.Registry
	metrics  *metrics
	dir      *directory
	aliases  *aliasSource
	upgrader websocket.Upgrader
	timing   timing
	handler  http.Handler
	// queueLimit bounds each peer's send queue in bytes.
	queueLimit int
	// allowAll: no auth plugin, so only cluster.secret can admit servers.
	allowAll bool
	// certs is the TLS certificate, nil without tls.cert; origins is
	// allowed_origins (tls.go).
	certs   *certStore
	origins origins
	// originWarnings bounds the warnings for refused origins as
	// cutWarnings does for flooders: a hostile page can retry in a loop.
	originWarnings struct {
		mu sync.Mutex
		b  ratelimit.Bucket
	}
	// serving counts running Serve calls, for /readyz.
	serving atomic.Int32
	// cutWarnings bounds the warnings for flooders cut (see refuse): one
	// token a flooder can reconnect and be cut many times a second.
	cutWarnings struct {
		mu sync.Mutex
		b  ratelimit.Bucket
	}
}

// New builds a coordinator. It fails on a config that cannot work, such as an
// unknown selector name.
func New(cfg Config, opts Options) (*Coordinator, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("coordinator config: %w", err)
	}
	sel, err := newSelector(cfg.Selector)
	if err != nil {
		return nil, fmt.Errorf("coordinator config: %w", err)
	}
	aliases, err := newPartitionedAliasSource(wallClock, cfg.Coordinator.ID, cfg.Coordinator.Count)
	if err != nil {
		return nil, fmt.Errorf("coordinator config: %w", err)
	}
	c := &Coordinator{
		cfg:     cfg,
		log:     opts.Logger,
		auth:    opts.Auth,
		reg:     opts.Registry,
		dir:     newDirectory(sel),
		aliases: aliases,
		timing: timing{
			pingInterval: cfg.PingInterval,
			pongWait:     2 * cfg.PingInterval,
			writeTimeout: cfg.WriteTimeout,
			readLimit:    cfg.MaxMessageSize,
		},
		// Room for a burst of signaling (a join storm sends a server
		// several messages per client) while bounding a stuck peer's cost.
		queueLimit: max(4<<20, 16*int(cfg.MaxMessageSize)),
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	if c.certs, err = newCertStore(cfg.TLS); err != nil {
		return nil, fmt.Errorf("coordinator config: %w", err)
	}
	if c.origins, err = parseOrigins(cfg.AllowedOrigins); err != nil {
		return nil, fmt.Errorf("coordinator config: %w", err)
	}
	c.cutWarnings.b = ratelimit.New(cutWarningRate, cutWarningBurst, time.Now())
	c.originWarnings.b = ratelimit.New(cutWarningRate, cutWarningBurst, time.Now())
	c.dir.ice = newICESource(cfg.ICEServers, cfg.TURN)
	if c.auth == nil {
		c.auth = auth.AllowAll{}
	}
	_, c.allowAll = c.auth.(auth.AllowAll)
	if c.allowAll && cfg.Cluster.Secret == "" {
		c.log.Warn("neither cluster.secret nor an auth plugin is configured: /discover refuses every communication " +
			"server; set cluster.secret, the same on the coordinator and every server")
	}
	if c.reg == nil {
		c.reg = prometheus.NewRegistry()
	}
	if c.metrics, err = newMetrics(c.reg); err != nil {
		return nil, fmt.Errorf("coordinator metrics: %w", err)
	}
	if err = c.certs.register(c.reg); err != nil {
		return nil, fmt.Errorf("coordinator metrics: %w", err)
	}
	if err := c.reg.Register(newServerLoadCollector(c.dir)); err != nil {
		return nil, fmt.Errorf("coordinator metrics: %w", err)
	}
	c.upgrader = websocket.Upgrader{
		HandshakeTimeout: cfg.WriteTimeout,
		// servePeer has applied allowed_origins (checkOrigin) before the
		// auth plugin, which sees the Origin header too.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/connect", c.serveConnect)
	mux.HandleFunc("/discover", c.serveDiscover)
	mux.Handle("/metrics", promhttp.HandlerFor(c.reg, promhttp.HandlerOpts{Registry: c.reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("/readyz", c.serveReady)
	if cfg.Demo.Enabled {
		serveDemo(mux)
	}
	c.handler = mux
	return c, nil
}

// Handler serves /connect, /discover, /metrics, /healthz and /readyz. A
// peer's socket lives as long as its request's context; Serve ties that to
// its own ctx. Mounted in a server of one's own, TLS is that server's: with
// no tls.cert the coordinator takes itself for plain ws://, so an empty
// allowed_origins admits any page; set the list.
func (c *Coordinator) Handler() http.Handler { return c.handler }

// shutdownGrace bounds how long Serve waits for plain HTTP requests (an auth
// call in flight, a /metrics scrape) once ctx is done.
const shutdownGrace = 5 * time.Second

// Serve serves on ln (https and wss:// when tls.cert is set) until ctx is done, then closes every socket (close code
// 1001, going away), waits for every goroutine it started and returns nil. It
// returns an error only if the listener fails.
func (c *Coordinator) Serve(ctx context.Context, ln net.Listener) error {
	// serveCtx is every request's base context: peers' sockets end with it.
	serveCtx, stop := context.WithCancel(ctx)
	defer stop()
	var handlers routines.Group
	srv := &http.Server{
		Handler:           trackHandlers(&handlers, c.handler),
		BaseContext:       func(net.Listener) context.Context { return serveCtx },
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(c.log.Handler(), slog.LevelDebug),
	}
	c.log.Info("coordinator listening", "addr", ln.Addr().String(), "tls", c.certs != nil, "selector", c.cfg.Selector,
		"coordinator_id", c.cfg.Coordinator.ID, "coordinator_count", c.cfg.Coordinator.Count,
		"max_message_size", c.cfg.MaxMessageSize, "ping_interval", c.cfg.PingInterval)
	if c.certs != nil {
		c.log.Info("serving TLS", certFields(c.certs.cur.Load())...)
	}
	c.serving.Add(1)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(c.wrapListener(ln)) }()

	var err error
	select {
	case <-ctx.Done():
	case err = <-served:
		err = fmt.Errorf("coordinator: serve %s: %w", ln.Addr(), err)
	}
	c.serving.Add(-1)
	stop() // sockets start closing now, in parallel with Shutdown
	grace, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	if serr := srv.Shutdown(grace); serr != nil {
		c.log.Warn("coordinator: HTTP shutdown timed out, closing connections", "err", serr)
		_ = srv.Close()
	}
	if err == nil {
		<-served // http.ErrServerClosed
	}
	// Hijacked (WebSocket) connections are not Shutdown's business: wait for
	// their handlers, each of which joins its own write loop.
	handlers.StopAndWait()
	c.log.Info("coordinator stopped", "addr", ln.Addr().String())
	return err
}

func (c *Coordinator) serveReady(w http.ResponseWriter, _ *http.Request) {
	if c.serving.Load() == 0 {
		http.Error(w, "not serving", http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// trackHandlers counts running handlers in g so that Serve can wait for all
// of them, WebSocket handlers included (http.Server.Shutdown does not wait
// for hijacked connections).
func trackHandlers(g *routines.Group, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.Enter() {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		defer g.Leave()
		h.ServeHTTP(w, r)
	})
}
