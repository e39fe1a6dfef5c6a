package natsbus

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the bus's series, commserver_nats_*, on the server's
// registry.
type metrics struct {
	connected     prometheus.Gauge
	subscriptions prometheus.Gauge
	published     prometheus.Counter
	publishErrors prometheus.Counter
	received      prometheus.Counter
	reconnects    prometheus.Counter
	slowConsumers prometheus.Counter
	badEnvelopes  atomic.Uint64
}

func newMetrics(reg prometheus.Registerer, _ *Bus) (*metrics, error) {
	const ns, sub = "commserver", "nats"
	m := &metrics{
		connected: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "connected",
			Help: "1 while the connection to NATS is up (cluster.transport=nats)."}),
		subscriptions: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "subscriptions",
			Help: "NATS subscriptions held: one per topic some local client subscribes to."}),
		published: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "published_total",
			Help: "Client messages published to NATS (once each, whoever subscribes)."}),
		publishErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "publish_errors_total",
			Help: "Publishes refused by nats.go (connection closed, reconnect buffer full): those messages are lost."}),
		received: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "received_total",
			Help: "Envelopes from other servers handed to the local fan-out."}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "reconnects_total",
			Help: "Reconnections to NATS after a lost connection."}),
		slowConsumers: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "slow_consumer_total",
			Help: "Times a topic subscription went over nats.pending_limit, so that NATS dropped its messages."}),
	}
	if reg == nil {
		return m, nil
	}
	bad := prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "bad_envelopes_total",
		Help: "Messages on a topic's subject that were not a valid envelope for that topic, dropped."},
		func() float64 { return float64(m.badEnvelopes.Load()) })
	for _, c := range []prometheus.Collector{m.connected, m.subscriptions, m.published, m.publishErrors,
		m.received, m.reconnects, m.slowConsumers, bad} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
