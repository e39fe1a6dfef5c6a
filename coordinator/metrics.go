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
}

// Reasons a message is dropped (label values of messages_dropped_total).
const (
	dropUnknownAlias = "unknown_alias"
	dropBadMessage   = "bad_message"
	dropPeerGone     = "peer_gone"
	dropSlowConsumer = "slow_consumer"
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
			Help: "Messages not relayed: unknown_alias, bad_message (undecodable, unknown type, forbidden target), peer_gone, slow_consumer.",
		}, []string{"reason"}),
		authDenials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "coordinator", Name: "auth_denials_total",
			Help: "WebSocket requests refused by the authenticator (denied or failed), by role.",
		}, []string{"role"}),
	}
	for _, c := range []prometheus.Collector{m.clients, m.servers, m.relayed, m.dropped, m.authDenials} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	// Pre-create the series so that dashboards see zeros, not gaps.
	for _, t := range relayedTypes {
		m.relayed.WithLabelValues(t.String())
	}
	for _, r := range []string{dropUnknownAlias, dropBadMessage, dropPeerGone, dropSlowConsumer} {
		m.dropped.WithLabelValues(r)
	}
	for _, r := range []protocol.Role{protocol.Role_CLIENT, protocol.Role_COMMUNICATION_SERVER, protocol.Role_COMMUNICATION_SERVER_HUB} {
		m.authDenials.WithLabelValues(r.String())
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

func (m *metrics) peerDown(p *peer) {
	if p.isServer() {
		m.servers.Dec()
	} else {
		m.clients.Dec()
	}
}
