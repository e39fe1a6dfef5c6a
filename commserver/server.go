// Package commserver is the communication server: it keeps a WebSocket to
// each coordinator of coordinator_url (reconnecting forever; one alias at
// all of them, coordmulti.go), accepts WebRTC peers (clients, and
// other servers in a mesh or a star), authenticates them with AUTH, and
// relays their topic messages to subscribers, locally and across servers:
// over server links, or with cluster.transport=nats through NATS
// (natsrelay.go, commserver/natsbus) and no server links at all.
//
// It owns the peers and their lifecycle, the coordinator link, the AUTH
// handshake, subscription handling and announcements, the relay fan-out,
// and the server's metrics and health endpoints. The pure parts (the
// subscription table, relay rules and encoding, outbound flow control) live
// in core/; topic policies come in through core/policy.
package commserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/webrtc-broker/webrtc-broker/core/auth"
	"github.com/webrtc-broker/webrtc-broker/core/history"
	"github.com/webrtc-broker/webrtc-broker/core/policy"
	"github.com/webrtc-broker/webrtc-broker/core/routines"
	"github.com/webrtc-broker/webrtc-broker/core/subscriptions"
	"github.com/webrtc-broker/webrtc-broker/internal/rtc"
	"github.com/webrtc-broker/webrtc-broker/internal/turn"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// Options are the server's collaborators.
type Options struct {
	Logger *slog.Logger       // nil = slog.Default()
	Auth   auth.Authenticator // nil = auth.AllowAll
	Policy policy.Policy      // nil = no topic policies
	// Registry receives the server's metrics and is what /metrics serves;
	// nil = a new registry.
	Registry *prometheus.Registry
}

// Stats is a snapshot of the server's state, for tests and tools.
type Stats struct {
	Alias                uint64 // the current coordinator alias; 0 before the first WELCOME
	CoordinatorConnected bool   // registered with a coordinator right now
	// Coordinators counts the coordinators it is registered with right now
	// (of coordinator_url's).
	Coordinators int

	Clients, Servers int // authenticated peers
	// ClientSlots counts the clients held against max_peers: connected
	// ones and those still being torn down (a closed client leaves
	// Clients at once, its slot only when its teardown is over).
	ClientSlots int
	Topics      []string
	// NATSConnected: with cluster.transport=nats, the NATS connection is up.
	NATSConnected bool
}

// Server is a communication server. Create it with New and run it with Run.
type Server struct {
	cfg    Config
	log    *slog.Logger
	auth   auth.Authenticator
	policy policy.Policy
	reg    *prometheus.Registry
	m      *metrics
	api    *rtc.API
	certs  *certSource
	hub    bool
	role   protocol.Role // presented to the coordinator and in AUTH

	subs *subscriptions.Table[*peer]
	// bus carries messages between servers with cluster.transport=nats
	// (natsrelay.go); nil with mesh. Set by New, connected by Run.
	bus clusterBus
	// rules says which topics are worlds and latest-wins (nil: none);
	// worlds holds the worlds in use (world.go).
	rules  *topicRules
	worlds worldSet
	// keySeed makes the conflate keys (rules.go); read-only.
	keySeed maphash.Seed
	// hist holds the history streams (nil without history rules); pres
	// the presence state; originID names this server in presence reports.
	hist     *histories
	pres     *presences
	originID uint64
	routines routines.Group
	// announce has capacity 1: a pending request to re-announce topics.
	announce chan struct{}
	started  atomic.Bool
	// ctx is Run's context, set before Run starts any goroutine; every
	// peer's context derives from it.
	ctx context.Context
	// turn is the embedded TURN server, set by Run before it starts any
	// goroutine; nil when turn.enabled is off.
	turn *turn.Server
	// httpAddr is the bound metrics listener, once Run has bound it.
	httpAddr atomic.Pointer[net.Addr]

	// The coordinator links' state, read by anyone. alias is the server's
	// alias, the same at every coordinator (coordmulti.go).
	alias atomic.Uint64
	links []*coordLink // one per coordinator_url, fixed by New
	// firstTry is closed at the first WELCOME (coordmulti.go: the links
	// but the first wait for it at start).
	firstTry     chan struct{}
	firstTryOnce sync.Once
	coordTune    coordTuning
	// coordTLS verifies a wss:// coordinator (coordinator_ca); nil is the
	// system roots.
	coordTLS *tls.Config

	// peerWG counts peers not yet torn down: Run waits for it before it
	// waits for the goroutines, so that no teardown is ever refused.
	peerWG sync.WaitGroup

	// mu guards the fields below and every peer's srv fields. It is held
	// for map work only, never across a socket write or a pion call that
	// can block or call back (locks.go).
	mu sync.Mutex
	// all holds every peer from its creation until its teardown is done;
	// shutdown closes them all.
	all map[*peer]struct{}
	// peers holds the peers by the alias they were linked under (lookup).
	peers map[uint64]*peer
	// sameAs maps a server's newer aliases (after it re-registered with the
	// coordinator) to the link, up or being made, under an older one that
	// a link under the newer alias was refused as a duplicate of: this
	// server dials the newer alias once that link ends (links.go).
	sameAs map[uint64]*peer
	// pending holds the servers this server sent CONNECT to and that have
	// not offered yet, with when the CONNECT left.
	pending map[uint64]time.Time
	// servers holds every alias known to be a server: from WELCOME lists and
	// from AUTH roles. A CONNECT from any other alias is a client's.
	servers map[uint64]struct{}
	// dialing holds the servers this server is dialing (links.go).
	dialing map[uint64]*dialTarget
	// lost holds, by DTLS fingerprint, when a link to a server was lost,
	// until a new link to it counts as restored.
	lost map[string]time.Time
	// proofSecret is the secret this server proves on its server links:
	// cluster.secret, unless a test plays a server that does not hold it.
	proofSecret string
	// clientSlots counts the peers that count against max_peers, halfOpen
	// those that count against max_half_open.
	clientSlots, halfOpen int
	// setup estimates a client's setup time for busy refusals.
	setup setupClock
	// closing is set when Run begins to shut down: no peer is added after.
	closing bool

	// draining is set by Drain; peerLeft wakes Drain when a peer is gone,
	// loadNow asks loadLoop for a report at once (both capacity 1).
	draining atomic.Bool
	peerLeft chan struct{}
	loadNow  chan struct{}
}

// New builds a server from its configuration. It fails on a config that
// cannot work.
func New(cfg Config, opts Options) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("commserver config: %w", err)
	}
	rules, err := newTopicRules(cfg.Worlds, cfg.Conflate)
	if err != nil {
		return nil, fmt.Errorf("commserver config: %w", err)
	}
	s := &Server{
		cfg:      cfg,
		log:      opts.Logger,
		auth:     opts.Auth,
		policy:   opts.Policy,
		reg:      opts.Registry,
		hub:      cfg.Role == RoleHub,
		role:     protocol.Role_COMMUNICATION_SERVER,
		subs:     subscriptions.New[*peer](),
		hist:     newHistories(cfg.History, cfg.HistoryMaxBytes),
		pres:     newPresences(),
		originID: history.NewEpoch(),
		announce: make(chan struct{}, 1),
		rules:    rules,
		keySeed:  maphash.MakeSeed(),
		all:      map[*peer]struct{}{},
		peers:    map[uint64]*peer{},
		sameAs:   map[uint64]*peer{},
		pending:  map[uint64]time.Time{},
		servers:  map[uint64]struct{}{},
		dialing:  map[uint64]*dialTarget{},
		lost:     map[string]time.Time{},
		peerLeft: make(chan struct{}, 1),
		loadNow:  make(chan struct{}, 1),
		firstTry: make(chan struct{}),

		coordTune: defaultCoordTuning(),

		proofSecret: cfg.Cluster.Secret,
	}
	if s.hub {
		s.role = protocol.Role_COMMUNICATION_SERVER_HUB
	}
	for _, u := range cfg.CoordinatorURLs {
		s.links = append(s.links, &coordLink{url: u, listed: map[uint64]bool{}})
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.auth == nil {
		s.auth = auth.AllowAll{}
	}
	if s.reg == nil {
		s.reg = prometheus.NewRegistry()
	}
	if s.m, err = newMetrics(s.reg, s); err != nil {
		return nil, fmt.Errorf("commserver metrics: %w", err)
	}
	if s.coordTLS, err = coordinatorTLS(cfg.CoordinatorCA); err != nil {
		return nil, fmt.Errorf("commserver config: %w", err)
	}
	if s.certs, err = newCertSource(); err != nil {
		return nil, fmt.Errorf("commserver: %w", err)
	}
	if s.api, err = rtc.NewAPI(cfg.WebRTC); err != nil {
		return nil, fmt.Errorf("commserver: %w", err)
	}
	if s.natsMode() {
		if s.bus, err = s.newBus(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Run serves until ctx is done, then closes every peer and the coordinator
// socket, waits for every goroutine it started and returns nil. It returns
// an error only if it cannot start (the metrics listener cannot bind).
func (s *Server) Run(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("commserver: Run called twice")
	}
	defer func() { _ = s.api.Close() }()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.ctx = ctx
	if err := s.startTURN(ctx); err != nil {
		return err
	}
	if s.turn != nil {
		defer s.turn.Close()
	}

	var httpSrv *http.Server
	if s.cfg.HTTP.Listen != "" {
		var err error
		if httpSrv, err = s.serveHTTP(); err != nil {
			return err
		}
	}
	if s.bus != nil {
		if err := s.bus.Connect(); err != nil {
			if httpSrv != nil {
				_ = httpSrv.Close()
			}
			return err
		}
	}
	s.log.Info("communication server starting", "role", s.cfg.Role, "coordinators", s.cfg.CoordinatorURLs,
		"transport", s.cfg.Cluster.Transport, "max_peers", s.cfg.MaxPeers, "loopback_only", s.cfg.WebRTC.LoopbackOnly, "cluster_secret", s.cfg.Cluster.Secret != "")
	if s.cfg.Cluster.Secret == "" && s.allowAll() {
		s.log.Warn("neither cluster.secret nor an auth plugin is configured: the coordinator refuses to register " +
			"this server and links with other servers are refused; set cluster.secret, the same on the coordinator " +
			"and every server")
	}
	s.routines.Go(func() { s.announceLoop(ctx) })
	for _, l := range s.links {
		s.routines.Go(func() { s.runCoordinatorLink(ctx, l) })
	}
	s.routines.Go(func() { s.loadLoop(ctx) })
	if s.hist != nil {
		s.routines.Go(func() { s.sweepHistory(ctx) })
	}
	if s.bus != nil {
		s.routines.Go(func() { s.refreshBusPresence(ctx) })
	}

	<-ctx.Done()
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	for _, p := range s.snapshotPeers() {
		p.close(slog.LevelDebug, "closed: server shutting down", nil)
	}
	s.peerWG.Wait()
	if httpSrv != nil {
		grace, cancelGrace := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if err := httpSrv.Shutdown(grace); err != nil {
			_ = httpSrv.Close()
		}
		cancelGrace()
	}
	s.routines.StopAndWait()
	// After the announce loop has stopped: nothing subscribes or publishes
	// any more while the bus drains.
	s.closeBus(ctx)
	s.log.Info("communication server stopped")
	return nil
}

// Stats returns a snapshot of the server's state.
func (s *Server) Stats() Stats {
	up := s.coordinatorsUp()
	st := Stats{Alias: s.alias.Load(), CoordinatorConnected: up > 0, Coordinators: up}
	if s.bus != nil {
		st.NATSConnected = s.bus.Connected()
	}
	for _, p := range s.snapshotPeers() {
		if !p.gate.authorized() || p.ctx.Err() != nil {
			continue
		}
		if p.creds().isServer() {
			st.Servers++
		} else {
			st.Clients++
		}
	}
	s.mu.Lock()
	st.ClientSlots = s.clientSlots
	s.mu.Unlock()
	st.Topics = s.subs.ClientTopics()
	return st
}

// Alias is the server's current coordinator alias (0 before the first
// WELCOME); with several coordinators, its alias at all of them. It is
// cheap: topic policies read it on every hook call.
func (s *Server) Alias() uint64 { return s.alias.Load() }

// HTTPAddr is the address the metrics and health listener is bound to, or
// nil when http.listen is empty or Run has not bound it yet.
func (s *Server) HTTPAddr() net.Addr {
	if a := s.httpAddr.Load(); a != nil {
		return *a
	}
	return nil
}

// snapshotPeers returns every peer not yet torn down.
func (s *Server) snapshotPeers() []*peer {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*peer, 0, len(s.all))
	for p := range s.all {
		out = append(out, p)
	}
	return out
}

// forget removes a closed peer from the server: its subscriptions, its map
// entries, its max_peers slot; topic policies and other servers are told.
// It runs on the peer's teardown, after its read loops have ended.
func (s *Server) forget(p *peer) {
	p.leaveWorlds()
	s.pres.mu.Lock()
	old := s.subs.ClientSet(p)
	unionChanged := s.subs.Remove(p)
	if p.gate.authorized() {
		s.presenceGoneLocked(p, old)
	}
	s.pres.mu.Unlock()
	s.mu.Lock()
	if s.hist != nil && p.isServerLink() && !s.closing {
		// What the link was carrying may be lost: no stream can vouch
		// for having every message. (Stream locks nest under Server.mu
		// nowhere else, and take no other lock.)
		s.hist.restartAll()
	}
	delete(s.all, p)
	for alias, q := range s.peers {
		if q == p {
			delete(s.peers, alias)
		}
	}
	var newer []uint64
	for alias, q := range s.sameAs {
		if q == p {
			delete(s.sameAs, alias)
			newer = append(newer, alias)
		}
	}
	switch {
	case s.closing:
	case p.isServerLink():
		s.linkLostLocked(p, newer)
	default:
		// p was a link still being made, and newer aliases of its server
		// were refused as its duplicates (sameAs): the refusal left this
		// side the duty to dial them, and the remote waits for it.
		for _, a := range newer {
			s.wantLinkLocked(a, p.srv.remoteFP, true)
		}
	}
	s.releaseSlotsLocked(p)
	s.mu.Unlock()
	s.peerGoneWhileDraining()
	s.m.peerGone(p)
	if !p.gate.authorized() {
		return
	}
	c := p.creds()
	s.m.peerDown(c.role)
	switch {
	case c.isServer() && s.hub:
		// The other servers were owed this one's topics.
		s.notifyAnnounce()
	case unionChanged:
		s.notifyAnnounce()
	}
	if !c.isServer() && s.policy != nil {
		s.policy.OnDisconnect(p.policyPeer())
	}
}
