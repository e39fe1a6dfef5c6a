package luahost

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// outcome is what one hook call came to, as counted in
// broker_policy_hook_calls_total.
type outcome uint8

const (
	outAllow   outcome = iota // allowed, or connect/disconnect ran
	outDeny                   // subscription denied
	outDrop                   // publish dropped
	outReplace                // body replaced
	outError                  // Lua error or bad return value: failure mode applied
	outTimeout                // deadline hit: failure mode applied
	outBusy                   // no free state within the deadline: failure mode applied
	outMemory                 // state over its memory budget: discarded, failure mode applied
	outTripped                // circuit breaker open, hook not run: failure mode applied
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"allow", "deny", "drop", "replace", "error", "timeout", "busy", "memory", "tripped"}

// metrics are the host's Prometheus series, registered on Options.Registerer.
type metrics struct {
	reg      prometheus.Registerer
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	reloads  *prometheus.CounterVec
	scripts  prometheus.Gauge
	memory   *prometheus.CounterVec
	trips    *prometheus.CounterVec
	open     *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		reg: reg,
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "broker_policy_hook_calls_total",
			Help: "Lua policy hook calls by script, hook and outcome (error, timeout and busy applied the script's failure mode).",
		}, []string{"script", "hook", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "broker_policy_hook_duration_seconds",
			Help:    "Time spent in a Lua policy hook call, including waiting for a free state.",
			Buckets: prometheus.ExponentialBuckets(1e-6, 4, 9), // 1µs .. 65ms
		}, []string{"script", "hook"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "broker_policy_script_loads_total",
			Help: "Script (re)loads by result: ok, or error (the previous version stays in force).",
		}, []string{"result"}),
		scripts: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "broker_policy_scripts",
			Help: "Lua policy scripts in force.",
		}),
		memory: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "broker_policy_memory_limit_total",
			Help: "Lua states discarded for going over their memory budget, by script and hook (top_level: the script's top level, which fails the load).",
		}, []string{"script", "hook"}),
		trips: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "broker_policy_breaker_trips_total",
			Help: "Times a script's circuit breaker opened after repeated time-outs or memory-limit failures.",
		}, []string{"script"}),
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "broker_policy_breaker_open",
			Help: "1 while a script's circuit breaker is open (its hooks fail per its failure mode without running), else 0.",
		}, []string{"script"}),
	}
	for _, c := range m.collectors() {
		if err := reg.Register(c); err != nil {
			m.unregister()
			return nil, fmt.Errorf("lua host: register metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.calls, m.duration, m.reloads, m.scripts, m.memory, m.trips, m.open}
}

// unregister takes the series off the registry again when New fails, so
// that a caller may retry with the same registry.
func (m *metrics) unregister() {
	for _, c := range m.collectors() {
		m.reg.Unregister(c)
	}
}

// scriptMetrics are one script's series resolved up front, so a call only
// increments (no label hashing on the hot path).
type scriptMetrics struct {
	calls    [numHooks][numOutcomes]prometheus.Counter
	duration [numHooks]prometheus.Observer
	memory   [numHooks]prometheus.Counter
	trips    prometheus.Counter
	open     prometheus.Gauge
}

func (m *metrics) forScript(name string, hooks [numHooks]bool) scriptMetrics {
	sm := scriptMetrics{trips: m.trips.WithLabelValues(name), open: m.open.WithLabelValues(name)}
	for h := range numHooks {
		if !hooks[h] {
			continue
		}
		sm.memory[h] = m.memory.WithLabelValues(name, hookNames[h])
		sm.duration[h] = m.duration.WithLabelValues(name, hookNames[h])
		for o := range numOutcomes {
			sm.calls[h][o] = m.calls.WithLabelValues(name, hookNames[h], outcomeNames[o])
		}
	}
	return sm
}

// forget deletes the series of a removed script.
func (m *metrics) forget(name string) {
	m.calls.DeletePartialMatch(prometheus.Labels{"script": name})
	m.duration.DeletePartialMatch(prometheus.Labels{"script": name})
	m.memory.DeletePartialMatch(prometheus.Labels{"script": name})
	m.trips.DeletePartialMatch(prometheus.Labels{"script": name})
	m.open.DeletePartialMatch(prometheus.Labels{"script": name})
}

// failureLogEvery is how often a script's repeated failure of one kind is
// logged again; a failing script may fail on every message.
const failureLogEvery = 10 * time.Second

// failureLog logs a script's failures once per kind (error, timeout, busy)
// and then at most once per failureLogEvery, with the count it held back.
type failureLog struct {
	mu   sync.Mutex
	last [numOutcomes]time.Time // guarded by mu
	held [numOutcomes]int       // guarded by mu
}

func (s *script) logFailure(h hook, o outcome, err error) {
	now := time.Now()
	s.fails.mu.Lock()
	if !s.fails.last[o].IsZero() && now.Sub(s.fails.last[o]) < failureLogEvery {
		s.fails.held[o]++
		s.fails.mu.Unlock()
		return
	}
	held := s.fails.held[o]
	s.fails.last[o], s.fails.held[o] = now, 0
	s.fails.mu.Unlock()
	mode := "closed"
	if s.failOpen {
		mode = "open"
	}
	msg := "policy script failed"
	switch {
	case errors.Is(err, errTimeout):
		msg = "policy script timed out"
	case errors.Is(err, errMemory):
		msg = "policy script over its memory limit"
	case errors.Is(err, errTripped):
		msg = "policy script not run: breaker open"
	}
	s.host.log.Warn(msg, "script", s.name, "hook", hookNames[h], "failure", mode,
		"err", err, "suppressed_since_last", held)
}
