package coordinator

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// metrics are the coordinator's Prometheus series, registered on the
// coordinator's own registry (several coordinators share a test process).
type metrics struct {
	clients     prometheus.Gauge
	servers     prometheus.Gauge
	relayed     *prometheus.CounterVec // by message type
	dropped     *prometheus.CounterVec // by reason
	authDenials *prometheus.CounterVec // by role
	disconnects *prometheus.CounterVec // by role and reason
}

// Reasons a message is dropped (label values of messages_dropped_total).
const (
	dropUnknownAlias = "unknown_alias"
	dropBadMessage   = "bad_message"
	dropPeerGone     = "peer_gone"
	dropSlowConsumer = "slow_consumer"
	dropRateLimited  = "rate_limited"  // the sender is over signal.rate
	dropPairLimit    = "pair_limit"    // the sender is over signal.pair_bytes towards the receiver
	dropReceiverFull = "receiver_full" // the receiving server's queue is full
)

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		clients: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "coordinator", Name: "connected_clients",
			Help: "Clients with an open WebSocket on /connect.",
		}),
		servers: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "coordinator", Name: "connected_servers",
			Help: "Communication servers (hub included) with an open WebSocket on /discover.",
		}),
		relayed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "coordinator", Name: "messages_relayed_total",
			Help: "Signaling messages relayed to their to_alias, by type.",
		}, []string{"type"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "coordinator", Name: "messages_dropped_total",
			Help: "Messages not relayed: unknown_alias, bad_message (undecodable, unknown type, forbidden target), peer_gone, slow_consumer (the receiving client was closed), rate_limited (sender over signal.rate), pair_limit (sender over signal.pair_bytes towards the receiver), receiver_full (the receiving server's queue is full).",
		}, []string{"reason"}),
		authDenials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "coordinator", Name: "auth_denials_total",
			Help: "WebSocket requests refused by the authenticator (denied or failed), by role.",
		}, []string{"role"}),
		disconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "coordinator", Name: "disconnects_total",
			Help: "Peer sockets that ended, by role and reason: closed, abrupt, keepalive, read_limit, invalid_utf8, bad_messages, signal_flood, slow_consumer, write_failed, shutdown.",
		}, []string{"role", "reason"}),
	}
	for _, c := range []prometheus.Collector{m.clients, m.servers, m.relayed, m.dropped, m.authDenials, m.disconnects} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	// Pre-create the series so that dashboards see zeros, not gaps.
	for _, t := range relayedTypes {
		m.relayed.WithLabelValues(t.String())
	}
	for _, r := range []string{dropUnknownAlias, dropBadMessage, dropPeerGone, dropSlowConsumer, dropRateLimited, dropPairLimit, dropReceiverFull} {
		m.dropped.WithLabelValues(r)
	}
	for _, r := range []protocol.Role{protocol.Role_CLIENT, protocol.Role_COMMUNICATION_SERVER, protocol.Role_COMMUNICATION_SERVER_HUB} {
		m.authDenials.WithLabelValues(r.String())
		for _, reason := range disconnectReasons {
			m.disconnects.WithLabelValues(r.String(), reason)
		}
	}
	return m, nil
}

func (m *metrics) peerUp(p *peer) {
	if p.isServer() {
		m.servers.Inc()
	} else {
		m.clients.Inc()
	}
}

// peerDown uncounts p and counts why it left, once its socket has closed (a
// peer that never got past register has no cause).
func (m *metrics) peerDown(p *peer) {
	if p.cause.kind != "" {
		m.disconnects.WithLabelValues(p.role.String(), p.cause.kind).Inc()
	}
	if p.isServer() {
		m.servers.Dec()
	} else {
		m.clients.Dec()
	}
}
