package plugins

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the host's, registered on the component's own registry.
type metrics struct {
	calls      *prometheus.CounterVec // method, result: allow, deny, error
	failClosed *prometheus.CounterVec // reason: down, timeout, error, canceled
	restarts   prometheus.Counter
	up         prometheus.Gauge
	latency    *prometheus.HistogramVec // method
}

// Reasons a call failed closed, the values of the fail_closed counter's label.
const (
	reasonDown     = "down"
	reasonTimeout  = "timeout"
	reasonError    = "error"
	reasonCanceled = "canceled"
)

func newMetrics(reg prometheus.Registerer, plugin string) *metrics {
	labels := prometheus.Labels{"plugin": plugin}
	m := &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "broker_auth_plugin_calls_total", ConstLabels: labels,
			Help: "Calls to the auth plugin by method and result (allow, deny, error).",
		}, []string{"method", "result"}),
		failClosed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "broker_auth_plugin_fail_closed_total", ConstLabels: labels,
			Help: "Calls denied because the plugin could not answer: down, timeout, error, canceled.",
		}, []string{"reason"}),
		restarts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "broker_auth_plugin_restarts_total", ConstLabels: labels,
			Help: "Times the auth plugin process was restarted after it exited.",
		}),
		up: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "broker_auth_plugin_up", ConstLabels: labels,
			Help: "1 while the auth plugin process is running, 0 while it is down.",
		}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "broker_auth_plugin_call_duration_seconds", ConstLabels: labels,
			Help:    "Round trip of a call to the auth plugin.",
			Buckets: prometheus.ExponentialBuckets(50e-6, 2, 16),
		}, []string{"method"}),
	}
	m.calls = register(reg, m.calls)
	m.failClosed = register(reg, m.failClosed)
	m.restarts = register(reg, m.restarts)
	m.up = register(reg, m.up)
	m.latency = register(reg, m.latency)
	return m
}

// register adds c to reg, or returns the collector already there, so that a
// component that builds its authenticator twice (a test, a reload) shares one.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		// A different collector under our name: count on our own copy rather
		// than fail authentication over a metric.
	}
	return c
}
