package commserver

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// metrics are the server's Prometheus series, on the server's own registry
// (several servers share a test process). Counters on the relay path are
// resolved once, here, so that a relayed message costs an atomic add per
// series and no label lookup.
type metrics struct {
	peers            *prometheus.GaugeVec // authenticated peers by role
	in, out          [protocol.MessageType_ERROR + 1]prometheus.Counter
	inOther          prometheus.Counter
	sentBytes        prometheus.Counter
	authFailures     prometheus.Counter
	violations       prometheus.Counter
	refusedFull      prometheus.Counter
	refusedBusy      prometheus.Counter
	coordConnected   prometheus.Gauge
	coordReconnects  prometheus.Counter
	coordBadMessages prometheus.Counter
	linksLost        prometheus.Counter
	linksRestored    prometheus.Counter
	redials          prometheus.Gauge
	coordOverflows   prometheus.Counter
	batchesIn        prometheus.Counter

	// Drops, exported by dropCollector. unreliableClosed sums the drops
	// of peers already gone; live peers' are read from their queues.
	slowConsumers    atomic.Uint64
	policyDrops      atomic.Uint64
	worldDrops       atomic.Uint64 // world messages refused (world.go)
	unreliableClosed atomic.Uint64
	conflatedClosed  atomic.Uint64 // the same for superseded (latest-wins) messages
	// batchesClosed sums the batches written to peers already gone (see
	// batchCollector).
	batchesClosed atomic.Uint64
	// links exports what the server links' writers do (linkmetrics.go).
	links *linkCollector
}

func newMetrics(reg prometheus.Registerer, s *Server) (*metrics, error) {
	const ns = "commserver"
	m := &metrics{
		peers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: ns, Name: "peers",
			Help: "Authenticated peers, by role (CLIENT, or a server role for links to other servers).",
		}, []string{"role"}),
		sentBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Name: "sent_bytes_total",
			Help: "Bytes queued to peers (a relayed message counts once per receiver).",
		}),
		authFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Name: "auth_failures_total",
			Help: "Peers refused at AUTH: denied, authenticator unavailable, or not AUTH first.",
		}),
		violations: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Name: "protocol_violations_total",
			Help: "Data-channel messages dropped as malformed, oversized, of an unexpected type, or otherwise invalid.",
		}),
		refusedFull: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Name: "connects_refused_total",
			Help: "CONNECTs refused with SERVER_FULL (max_peers, draining, or busy: max_half_open).",
		}),
		refusedBusy: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Name: "connects_refused_busy_total",
			Help: "CONNECTs refused because max_half_open clients were being set up, with a retry hint (retry_after_ms); counted in connects_refused_total too.",
		}),
		coordConnected: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Name: "coordinator_connected",
			Help: "The coordinators this server is registered with (WELCOME received on the current socket): 1 with one coordinator_url, up to their number with several.",
		}),
		coordReconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Name: "coordinator_reconnects_total",
			Help: "Coordinator link failures followed by a reconnect attempt.",
		}),
		coordBadMessages: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Name: "coordinator_bad_messages_total",
			Help: "Messages from the coordinator that could not be decoded or had an unexpected type.",
		}),
		linksLost: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Name: "server_links_lost_total",
			Help: "Authenticated links to other servers that ended while this server ran.",
		}),
		linksRestored: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Name: "server_links_restored_total",
			Help: "Links to other servers made again after one to the same server was lost.",
		}),
		redials: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Name: "server_redials",
			Help: "Servers this server is dialing (listed by the coordinator or lost) with no link up yet.",
		}),
		coordOverflows: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Name: "coordinator_queue_overflows_total",
			Help: "Coordinator link restarts because its outbound queue went over its bound (the socket did not keep up).",
		}),
		batchesIn: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Name: "batches_received_total",
			Help: "BATCH messages received from server links and unpacked.",
		}),
	}
	in := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Name: "messages_received_total",
		Help: "Data-channel messages received from authenticated peers, by type.",
	}, []string{"type"})
	out := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Name: "messages_sent_total",
		Help: "Data-channel messages queued to peers, by type (a relayed message counts once per receiver).",
	}, []string{"type"})
	for t := range m.in {
		name := protocol.MessageType(t).String()
		m.in[t] = in.WithLabelValues(name)
		m.out[t] = out.WithLabelValues(name)
	}
	m.inOther = in.WithLabelValues("OTHER")
	for _, r := range []protocol.Role{protocol.Role_CLIENT, protocol.Role_COMMUNICATION_SERVER, protocol.Role_COMMUNICATION_SERVER_HUB} {
		m.peers.WithLabelValues(r.String())
	}
	drops := &dropCollector{m: m, s: s, desc: prometheus.NewDesc(ns+"_dropped_messages_total",
		"Messages not delivered, by reason: slow_consumer (peers disconnected for it), unreliable_overflow "+
			"(oldest dropped from a full unreliable queue, or older than outbound.max_delay), policy (publishes dropped by a topic policy), "+
			"world (world messages refused: no position, or a cell topic), conflated (superseded by a newer one of the same sender and topic).",
		[]string{"reason"}, nil)}
	batches := &batchCollector{m: m, s: s, desc: prometheus.NewDesc(ns+"_batches_sent_total",
		"BATCH messages written to peers that declared FEATURE_BATCH (each carries several messages).", nil, nil)}
	m.links = newLinkCollector(s, ns)
	draining := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: ns, Name: "draining",
		Help: "1 once the server drains (SIGTERM): clients' CONNECTs refused, clients told to move (drain.go).",
	}, func() float64 {
		if s.draining.Load() {
			return 1
		}
		return 0
	})
	histBytes := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: ns, Name: "history_bytes",
		Help: "Bytes of messages the history topics hold on this server (bounded by each rule's max_bytes and history_max_bytes).",
	}, func() float64 { return float64(s.hist.heldBytes()) })
	histStreams := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: ns, Name: "history_streams",
		Help: "History topics this server keeps a stream of (subscribed here, or lingering after their last local subscriber left).",
	}, func() float64 { return float64(s.hist.count()) })
	for _, c := range []prometheus.Collector{m.peers, in, out, m.sentBytes, m.authFailures, m.violations,
		m.refusedFull, m.refusedBusy, m.coordConnected, m.coordReconnects, m.coordBadMessages, m.linksLost, m.linksRestored, m.redials, m.coordOverflows, drops,
		m.batchesIn, batches, m.links, draining, histBytes, histStreams} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// received counts one message from a peer.
func (m *metrics) received(t protocol.MessageType) {
	if t >= 0 && int(t) < len(m.in) {
		m.in[t].Inc()
		return
	}
	m.inOther.Inc()
}

// sent counts one message of size bytes queued to n peers.
func (m *metrics) sent(t protocol.MessageType, n, size int) {
	if n == 0 {
		return
	}
	if t >= 0 && int(t) < len(m.out) {
		m.out[t].Add(float64(n))
	}
	m.sentBytes.Add(float64(n * size))
}

func (m *metrics) peerUp(r protocol.Role)   { m.peers.WithLabelValues(r.String()).Inc() }
func (m *metrics) peerDown(r protocol.Role) { m.peers.WithLabelValues(r.String()).Dec() }

// peerGone keeps the unreliable drops of a peer that is going away.
func (m *metrics) peerGone(p *peer) {
	q := p.chans[unreliable].q
	superseded := q.Superseded() // first: Dropped counts a superseded message before Superseded does
	m.unreliableClosed.Add(q.Dropped() - superseded)
	m.conflatedClosed.Add(superseded)
	m.batchesClosed.Add(p.chans[reliable].q.Batches() + p.chans[unreliable].q.Batches())
	if p.isServerLink() {
		m.links.linkGone(p)
	}
}

// dropCollector exports the drop counters, reading live peers' unreliable
// queues at scrape time so that the relay path does no extra work.
type dropCollector struct {
	m    *metrics
	s    *Server
	desc *prometheus.Desc
}

func (c *dropCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *dropCollector) Collect(ch chan<- prometheus.Metric) {
	// unreliable_overflow: full queue or over outbound.max_delay;
	// conflated: superseded by a newer message of the same sender and topic.
	overflow, conflated := c.m.unreliableClosed.Load(), c.m.conflatedClosed.Load()
	for _, p := range c.s.snapshotPeers() {
		q := p.chans[unreliable].q
		superseded := q.Superseded() // first, as in peerGone
		overflow += q.Dropped() - superseded
		conflated += superseded
	}
	for _, v := range []struct {
		reason string
		n      uint64
	}{
		{"slow_consumer", c.m.slowConsumers.Load()},
		{"unreliable_overflow", overflow},
		{"policy", c.m.policyDrops.Load()},
		{"world", c.m.worldDrops.Load()},
		{"conflated", conflated},
	} {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(v.n), v.reason)
	}
}

// serveHTTP binds http.listen and serves /metrics, /healthz (the process is
// up) and /readyz (registered with the coordinator, so new clients can
// reach this server) until the returned server is shut down.
func (s *Server) serveHTTP() (*http.Server, error) {
	ln, err := net.Listen("tcp", s.cfg.HTTP.Listen)
	if err != nil {
		return nil, fmt.Errorf("http.listen %s: %w", s.cfg.HTTP.Listen, err)
	}
	addr := ln.Addr()
	s.httpAddr.Store(&addr)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if s.coordinatorsUp() == 0 {
			http.Error(w, "not registered with the coordinator", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	if s.cfg.HTTP.PProf {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.routines.Go(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("metrics listener failed", "addr", addr.String(), "err", err)
		}
	})
	s.log.Info("metrics and health listening", "addr", addr.String())
	return srv, nil
}
