package commserver

import (
	"fmt"
	"maps"
	"time"

	"github.com/webrtc-broker/webrtc-broker/commserver/natsbus"
	"github.com/webrtc-broker/webrtc-broker/core/auth"
	"github.com/webrtc-broker/webrtc-broker/core/clusterauth"
	"github.com/webrtc-broker/webrtc-broker/core/config"
	"github.com/webrtc-broker/webrtc-broker/core/history"
	"github.com/webrtc-broker/webrtc-broker/core/logging"
	"github.com/webrtc-broker/webrtc-broker/core/rtcconfig"
	"github.com/webrtc-broker/webrtc-broker/internal/turn"
)

// Config is the communication server's configuration (the commserver
// binary's keys). Zero values mean the defaults, so a Config literal in a
// test only sets what it cares about.
type Config struct {
	// CoordinatorURLs are the coordinators of the cluster (coordinator_url,
	// a list; a single string loads as a list of one): the server keeps a
	// link to each, under one alias (coordmulti.go). Default
	// ws://127.0.0.1:9090; /discover is appended when there is no path.
	CoordinatorURLs []string `koanf:"coordinator_url"`
	// CoordinatorURL is one coordinator, for Config literals of a
	// one-coordinator cluster (not a config key): used when CoordinatorURLs
	// is empty. After New it is CoordinatorURLs[0].
	CoordinatorURL string `koanf:"-"`
	// CoordinatorCA is a PEM file of the CA certificates a wss://
	// coordinator_url is verified against; empty means the system roots.
	CoordinatorCA string `koanf:"coordinator_ca"`
	Role          string `koanf:"role"` // server (default) | hub
	// MaxPeers caps the clients (links to other servers are never refused);
	// 0 means unlimited.
	MaxPeers int `koanf:"max_peers"`
	// MaxHalfOpen caps the clients being set up: CONNECT received, DTLS not
	// yet connected. A client holds a max_peers slot only once connected, so
	// that sockets which send CONNECT and nothing else cannot fill the
	// server; they are bounded here instead, each coordinator alias to one
	// (a CONNECT for a live peer is ignored). Over it a CONNECT gets
	// CONNECTION_REFUSED/SERVER_FULL with retry_after_ms, which the SDKs
	// retry (admission.go). Default 256, for join storms.
	MaxHalfOpen int `koanf:"max_half_open"`
	// ICEStartTimeout bounds CONNECT -> the remote's answer: a peer that
	// never starts ICE frees its half-open place this soon. Default 5s.
	ICEStartTimeout time.Duration `koanf:"ice_start_timeout"`
	// MaxMessageSize is the largest data-channel message accepted; a larger
	// one is a protocol violation. Default 65536, which is also what pion's
	// SCTP carries.
	MaxMessageSize int `koanf:"max_message_size"`
	// MaxTopicsSize caps a SUBSCRIPTION's topic set once inflated (GZIP) or
	// as sent (PLAIN); over it is a protocol violation. Default 65536.
	MaxTopicsSize int `koanf:"max_topics_size"`
	// MaxServerTopicsSize caps another server's announced topic set (the
	// union of its clients' sets, all parts together, once inflated); a
	// client's cap would split a cluster whose clients merely subscribe to
	// many topics. Default 8 MiB.
	MaxServerTopicsSize int `koanf:"max_server_topics_size"`
	// EstablishTimeout bounds CONNECT -> both channels open and AUTH
	// accepted; a peer that takes longer is closed. Default 15s.
	EstablishTimeout time.Duration `koanf:"establish_timeout"`
	// Reconnect is the coordinator link's backoff: from Min, doubling, up to
	// Max, jittered; reset after a WELCOME.
	Reconnect struct {
		Min time.Duration `koanf:"min"` // default 100ms
		Max time.Duration `koanf:"max"` // default 10s
	} `koanf:"reconnect"`
	// Outbound bounds each peer's queues: a reliable queue in bytes (over it
	// the peer is a slow consumer and is disconnected), an unreliable one in
	// messages (over it the oldest is dropped).
	Outbound struct {
		ReliableBytes      int `koanf:"reliable_bytes"`      // default 4 MiB
		UnreliableMessages int `koanf:"unreliable_messages"` // default 1024
		// Coalesce lets a busy peer's messages gather this long so they
		// share packets: less CPU per delivery for that much more latency.
		// 0 (default) sends at once.
		Coalesce time.Duration `koanf:"coalesce"`
		// UnreliableCoalesce is the unreliable channel's own window (it
		// takes the longer of this and Coalesce). It applies only under
		// sustained traffic, as Coalesce does: a writer that wrote within
		// its last five windows gathers one window before sending, while an
		// idle peer's first message leaves at once. Default
		// DefaultUnreliableCoalesce, measured in bench/README.md; 0 leaves
		// the unreliable channel to Coalesce alone. A pointer because a
		// zero field is filled with the default: nil is the default, 0 is
		// off (see UnreliableWindow).
		UnreliableCoalesce *time.Duration `koanf:"unreliable_coalesce"`
		// MaxDelay bounds how long an unreliable message may wait in a
		// peer's queue: older ones are dropped, state that late being
		// worth less than the next. 0 (default) keeps them until the
		// queue is full.
		MaxDelay time.Duration `koanf:"max_delay"`
	} `koanf:"outbound"`
	HTTP struct {
		Listen string `koanf:"listen"` // /metrics, /healthz, /readyz; empty disables
		// PProf adds /debug/pprof/ to that listener: off by default, since
		// profiles show internals to whoever can reach the port.
		PProf bool `koanf:"pprof"`
	} `koanf:"http"`
	// Runtime.MemoryLimit, in bytes, is the Go runtime's soft memory limit
	// (debug.SetMemoryLimit; the commserver command applies it): the GC
	// runs as the process nears it and returns freed pages to the OS, so
	// an idle server's RSS stays near its live heap instead of growing
	// with the garbage of pion's keepalives until the runtime's 2-minute
	// forced GC. 0 (default) sets none, leaving GOMEMLIMIT from the
	// environment in force. A soft limit: a live heap above it is kept,
	// at the cost of GCs back to back, so leave headroom (README, perf).
	Runtime struct {
		MemoryLimit int `koanf:"memory_limit"`
	} `koanf:"runtime"`
	WebRTC  rtcconfig.Config `koanf:"webrtc"`
	Scripts struct {
		Dir string `koanf:"dir"` // Lua topic policies; empty disables
	} `koanf:"scripts"`
	Auth auth.Config `koanf:"auth"`
	// Cluster.Secret is shared by the coordinator and every server: it
	// admits this server at /discover and proves it on every server link.
	// Cluster.Transport is how messages cross servers.
	Cluster ClusterConfig  `koanf:"cluster"`
	Log     logging.Config `koanf:"log"`
	// NATS is the connection of cluster.transport=nats (natsbus).
	NATS natsbus.Config `koanf:"nats"`
	// TURN is the embedded TURN server, off by default (internal/turn).
	TURN turn.Config `koanf:"turn"`

	// drain: graceful shutdown and load reports (drain.go, loadreport.go).
	Shutdown struct {
		// Grace bounds the drain on SIGTERM: the server refuses new
		// clients, tells the coordinator and its clients (DRAIN), and waits
		// this long at most for them to move before it closes the rest.
		// Default 30s.
		Grace time.Duration `koanf:"grace"`
	} `koanf:"shutdown"`
	Load struct {
		// Interval is how often the server sends the coordinator a
		// LOAD_REPORT (and at once when it starts draining). Default 2s.
		Interval time.Duration `koanf:"interval"`
	} `koanf:"load"`
	// Presence and History: issue 14 items 2 and 3 (presence.go, history.go).
	Presence PresenceConfig `koanf:"presence"`
	// History lists the topics that keep a numbered history of their
	// reliable messages for recovery, first matching rule wins; empty (the
	// default) keeps none and costs the relay nothing.
	History []history.Rule `koanf:"history"`
	// HistoryMaxBytes bounds the bytes all history topics hold together
	// on this server; past it the topic that appends drops its oldest
	// messages. Default 256 MiB; 0 leaves only each rule's max_bytes.
	HistoryMaxBytes int `koanf:"history_max_bytes"`

	// world: begin (issue 14; see world.go)
	// Worlds declares the world topics (spatial interest) by pattern.
	Worlds []WorldConfig `koanf:"worlds"`
	// Conflate lists patterns of topics whose unreliable messages are
	// latest-wins: a subscriber's queue keeps only the newest per sender
	// and topic when it backs up. World topics always are.
	Conflate []string `koanf:"conflate"`
	// world: end
}

// WorldConfig is one entry of worlds: topics matching Pattern (the Lua
// policies' syntax, * one segment, ** any depth) are worlds of this
// geometry. Every is the rate per distance band (within Radius/4, /2, and
// Radius): relay every n-th message; default [1, 2, 4].
type WorldConfig struct {
	Pattern string  `koanf:"pattern"`
	Cell    float64 `koanf:"cell"`
	Radius  float64 `koanf:"radius"`
	Every   []int   `koanf:"every"`
}

// ClusterConfig is the cluster section: the shared secret, and the
// transport between servers.
type ClusterConfig struct {
	clusterauth.Config `koanf:",squash"`
	// Transport is mesh (default: WebRTC links between servers, the 2019
	// design) or nats (no links; messages go through NATS, see natsbus).
	Transport string `koanf:"transport"`
}

// DefaultUnreliableCoalesce is outbound.unreliable_coalesce's default: under
// sustained fan-out a peer's unreliable messages gather this long, so a
// batching peer gets several per packet (bench/README.md has the
// measurements it was picked from, and what it costs in latency).
const DefaultUnreliableCoalesce = 2 * time.Millisecond

// UnreliableWindow is the coalesce window of a peer's unreliable channel:
// the longer of outbound.coalesce and outbound.unreliable_coalesce (nil:
// the default).
func (c Config) UnreliableWindow() time.Duration {
	w := DefaultUnreliableCoalesce
	if c.Outbound.UnreliableCoalesce != nil {
		w = *c.Outbound.UnreliableCoalesce
	}
	return max(w, c.Outbound.Coalesce)
}

// Transports (the cluster.transport key).
const (
	TransportMesh = "mesh"
	TransportNATS = "nats"
)

// Roles a communication server can run as (the role key).
const (
	RoleServer = "server"
	RoleHub    = "hub"
)

// Defaults are the communication server's config defaults, flat keys: what
// config.Load starts from and what New fills a Config's zero fields with.
func Defaults() map[string]any {
	d := map[string]any{
		// A string, as before: it loads as a list of one (and
		// --print-config shows the old form for the default).
		"coordinator_url":              defaultCoordinatorURL,
		"coordinator_ca":               "",
		"role":                         RoleServer,
		"max_peers":                    0,
		"max_half_open":                256,
		"ice_start_timeout":            "5s",
		"max_message_size":             64 << 10,
		"max_topics_size":              64 << 10,
		"max_server_topics_size":       8 << 20,
		"establish_timeout":            "15s",
		"reconnect.min":                "100ms",
		"reconnect.max":                "10s",
		"outbound.reliable_bytes":      4 << 20,
		"outbound.unreliable_messages": 1024,
		"outbound.coalesce":            "0s",
		"outbound.unreliable_coalesce": DefaultUnreliableCoalesce.String(),
		"outbound.max_delay":           "0s",
		"worlds":                       []map[string]any{},
		"conflate":                     []string{},
		"http.listen":                  "",
		"http.pprof":                   false,
		"scripts.dir":                  "",
		"shutdown.grace":               "30s",
		"load.interval":                "2s",
		"log.level":                    "info",
		"log.format":                   "text",
		"presence.max_members":         100,
		"history":                      []any{},
		"history_max_bytes":            256 << 20,
		"runtime.memory_limit":         0,
	}
	maps.Copy(d, rtcconfig.Defaults())
	maps.Copy(d, auth.Defaults())
	maps.Copy(d, clusterauth.Defaults())
	d["cluster.transport"] = TransportMesh
	maps.Copy(d, natsbus.Defaults())
	maps.Copy(d, turn.Defaults())
	return d
}

// withDefaults fills zero values from Defaults and rejects values that
// cannot work.
func (c Config) withDefaults() (Config, error) {
	maxUnset := c.Reconnect.Max == 0
	err := config.FillDefaults(&c, Defaults())
	if err != nil {
		return c, err
	}
	if maxUnset {
		// A reconnect.min over the default max raises the max with it.
		c.Reconnect.Max = max(c.Reconnect.Max, c.Reconnect.Min)
	}
	switch {
	case c.Role != RoleServer && c.Role != RoleHub:
		return c, fmt.Errorf("role %q: %w", c.Role, errBadRole)
	case c.MaxPeers < 0:
		return c, fmt.Errorf("max_peers %d: %w", c.MaxPeers, errNegative)
	case c.MaxHalfOpen < 0:
		return c, fmt.Errorf("max_half_open %d: %w", c.MaxHalfOpen, errNegative)
	case c.ICEStartTimeout < 0:
		return c, fmt.Errorf("ice_start_timeout %s: %w", c.ICEStartTimeout, errNegative)
	case c.MaxMessageSize < 0:
		return c, fmt.Errorf("max_message_size %d: %w", c.MaxMessageSize, errNegative)
	case c.MaxTopicsSize < 0:
		return c, fmt.Errorf("max_topics_size %d: %w", c.MaxTopicsSize, errNegative)
	case c.MaxServerTopicsSize < 0:
		return c, fmt.Errorf("max_server_topics_size %d: %w", c.MaxServerTopicsSize, errNegative)
	case c.EstablishTimeout < 0:
		return c, fmt.Errorf("establish_timeout %s: %w", c.EstablishTimeout, errNegative)
	case c.Outbound.Coalesce < 0:
		return c, fmt.Errorf("outbound.coalesce %s: %w", c.Outbound.Coalesce, errNegative)
	case c.Outbound.UnreliableCoalesce != nil && *c.Outbound.UnreliableCoalesce < 0:
		return c, fmt.Errorf("outbound.unreliable_coalesce %s: %w", *c.Outbound.UnreliableCoalesce, errNegative)
	case c.Outbound.MaxDelay < 0:
		return c, fmt.Errorf("outbound.max_delay %s: %w", c.Outbound.MaxDelay, errNegative)
	case c.Reconnect.Min < 0 || c.Reconnect.Max < c.Reconnect.Min:
		return c, fmt.Errorf("reconnect.min %s, reconnect.max %s: %w", c.Reconnect.Min, c.Reconnect.Max, errBadBackoff)
	case c.Outbound.ReliableBytes < 0 || c.Outbound.UnreliableMessages < 0:
		return c, fmt.Errorf("outbound.reliable_bytes %d, outbound.unreliable_messages %d: %w",
			c.Outbound.ReliableBytes, c.Outbound.UnreliableMessages, errNegative)
	case c.Shutdown.Grace < 0:
		return c, fmt.Errorf("shutdown.grace %s: %w", c.Shutdown.Grace, errNegative)
	case c.Load.Interval < 0:
		return c, fmt.Errorf("load.interval %s: %w", c.Load.Interval, errNegative)
	case c.Auth.Timeout < 0:
		return c, fmt.Errorf("auth.timeout %s: %w", c.Auth.Timeout, errNegative)
	case c.Runtime.MemoryLimit < 0:
		return c, fmt.Errorf("runtime.memory_limit %d: %w", c.Runtime.MemoryLimit, errNegative)
	}
	if c.CoordinatorURLs, err = coordinatorURLs(c.CoordinatorURLs, c.CoordinatorURL); err != nil {
		return c, err
	}
	c.CoordinatorURL = c.CoordinatorURLs[0]
	for _, u := range c.CoordinatorURLs {
		if err := checkCoordinatorCA(u, c.CoordinatorCA); err != nil {
			return c, err
		}
	}
	if err := clusterauth.Check(c.Cluster.Secret); err != nil {
		return c, err
	}
	if err := c.WebRTC.Validate(); err != nil {
		return c, err
	}
	switch c.Cluster.Transport {
	case TransportMesh:
	case TransportNATS:
		if c.Role == RoleHub {
			return c, fmt.Errorf("role hub with cluster.transport nats: %w", errHubOverNATS)
		}
		if err := c.NATS.Check(); err != nil {
			return c, err
		}
	default:
		return c, fmt.Errorf("cluster.transport %q (mesh or nats): %w", c.Cluster.Transport, errBadTransport)
	}
	if err := c.TURN.Validate(); err != nil {
		return c, err
	}
	if _, err := newTopicRules(c.Worlds, c.Conflate); err != nil {
		return c, err
	}
	return c.checkPresenceHistory()
}

// checkPresenceHistory validates the presence and history keys (issue 14)
// and fills each history rule's defaults.
func (c Config) checkPresenceHistory() (Config, error) {
	if c.Presence.MaxMembers < 0 {
		return c, fmt.Errorf("presence.max_members %d: %w", c.Presence.MaxMembers, errNegative)
	}
	if c.HistoryMaxBytes < 0 {
		return c, fmt.Errorf("history_max_bytes %d: %w", c.HistoryMaxBytes, errNegative)
	}
	rules := make([]history.Rule, len(c.History))
	for i, r := range c.History {
		var err error
		if rules[i], err = r.Check(); err != nil {
			return c, fmt.Errorf("history[%d]: %w", i, err)
		}
	}
	c.History = rules
	return c, nil
}

// PresenceConfig is the presence section (presence.go).
type PresenceConfig struct {
	// MaxMembers: a topic with more members than this is told to presence
	// followers, and reported to other servers, as a count only. Default
	// 100.
	MaxMembers int `koanf:"max_members"`
}
