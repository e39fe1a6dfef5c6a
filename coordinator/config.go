package coordinator

import (
	"fmt"
	"maps"
	"time"

	"github.com/webrtc-broker/webrtc-broker/core/auth"
	"github.com/webrtc-broker/webrtc-broker/core/clusterauth"
	"github.com/webrtc-broker/webrtc-broker/core/config"
	"github.com/webrtc-broker/webrtc-broker/core/logging"
	"github.com/webrtc-broker/webrtc-broker/core/rtcconfig"
)

// Config is the coordinator's configuration (the coordinator binary's keys).
// Zero durations and sizes mean the defaults, so a Config literal in a test
// only sets what it cares about.
type Config struct {
	Listen         string        `koanf:"listen"`           // default 127.0.0.1:9090
	Selector       string        `koanf:"selector"`         // random (default) | least-loaded | star | affinity
	MaxMessageSize int64         `koanf:"max_message_size"` // WebSocket read limit, default 65536
	PingInterval   time.Duration `koanf:"ping_interval"`    // default 10s; pong wait = 2x
	WriteTimeout   time.Duration `koanf:"write_timeout"`    // default 5s
	Signal         SignalConfig  `koanf:"signal"`
	Auth           auth.Config   `koanf:"auth"`
	// Cluster.Secret, shared with every communication server, is what
	// /discover requires proof of (see clusterauth).
	Cluster clusterauth.Config `koanf:"cluster"`
	Log     logging.Config     `koanf:"log"`
	Demo    DemoConfig         `koanf:"demo"`

	// TLS, when both files are set, makes listen serve https and wss://
	// (SIGHUP or ReloadCertificate reloads them; see tls.go).
	TLS TLSConfig `koanf:"tls"`
	// AllowedOrigins are the pages whose browsers may open /connect, as
	// origins ("https://app.example.com"; "*" is any). Empty means the
	// coordinator's own origin only when TLS is on, and any when it is off
	// (local runs). A request without Origin (not a browser) is not checked.
	AllowedOrigins []string `koanf:"allowed_origins"`
	// ICEServers go to every client in its WELCOME as they are (STUN, TURN
	// with static credentials); entries are {urls, username, credential}
	// or a bare URL. TURN lists TURN servers whose credentials are minted
	// per client (see TURNConfig).
	ICEServers []rtcconfig.ICEServer `koanf:"ice_servers"`
	TURN       TURNConfig            `koanf:"turn"`
	// Coordinator places this coordinator among the several that may serve
	// one cluster (README, "Several coordinators"; alias.go).
	Coordinator PartitionConfig `koanf:"coordinator"`
}

// PartitionConfig is this coordinator's share of the alias space: every
// coordinator of a cluster has the same Count and its own ID, and draws
// aliases only from partition ID, so no two can hand out the same alias.
type PartitionConfig struct {
	ID    int `koanf:"id"`    // 0..count-1, default 0
	Count int `koanf:"count"` // 1..16, default 1 (a lone coordinator)
}

// TLSConfig names the coordinator's certificate and key, PEM files; both
// empty serves plain ws://.
type TLSConfig struct {
	Cert string `koanf:"cert"`
	Key  string `koanf:"key"`
}

// SignalConfig bounds the signaling a peer may relay through the
// coordinator, so that no sender can fill another peer's send queue.
type SignalConfig struct {
	// Rate and Burst are the token bucket of each client socket, in
	// messages (CONNECT, offers, answers, candidates, refusals): Burst at
	// once, Rate a second after that. Servers are not rate-limited: they
	// are authenticated cluster members whose signaling grows with the
	// clients they answer.
	Rate  float64 `koanf:"rate"`  // default 20
	Burst int     `koanf:"burst"` // default 100
	// PairBytes bounds the bytes one sender may have queued (relayed, not
	// yet written) towards one receiver; over it the sender's messages to
	// that receiver are dropped. An empty pair takes any one message.
	PairBytes int `koanf:"pair_bytes"` // default 262144
}

// Defaults are the coordinator's config defaults, flat keys: what
// config.Load starts from and what New fills a Config's zero fields with.
func Defaults() map[string]any {
	d := map[string]any{
		"listen":           "127.0.0.1:9090",
		"selector":         selectorRandom,
		"max_message_size": 64 << 10,
		"ping_interval":    "10s",
		"write_timeout":    "5s",
		// A client's connection attempt is a CONNECT, an answer and tens of
		// ICE candidates within a second or so; a burst of 100 leaves room
		// for two attempts at once (a retry, a second server), and 20 a
		// second for trickling candidates and reconnects, while a flooder
		// is held to 20 a second (160 KiB/s of 8 KiB candidates) and cut
		// soon after.
		"signal.rate":  20,
		"signal.burst": 100,
		// A connection's signaling towards one server is a few KiB (an SDP
		// answer and candidates of ~200 bytes); 256 KiB is a hundred times
		// that, and sixteen flooders together still fit in a receiver's
		// 4 MiB queue.
		"signal.pair_bytes": 256 << 10,
		"log.level":         "info",
		"log.format":        "text",
		"demo.enabled":      false,
		"tls.cert":          "",
		"tls.key":           "",
		"allowed_origins":   []string{},
		"ice_servers":       []any{},
		"turn.urls":         []string{},
		"turn.secret":       "",
		"turn.ttl":          "1h",
		"coordinator.id":    0,
		"coordinator.count": 1,
	}
	maps.Copy(d, auth.Defaults())
	maps.Copy(d, clusterauth.Defaults())
	return d
}

// withDefaults fills zero values from Defaults and rejects values that
// cannot work.
func (c Config) withDefaults() (Config, error) {
	if err := config.FillDefaults(&c, Defaults()); err != nil {
		return c, err
	}
	switch {
	case c.MaxMessageSize < 0:
		return c, fmt.Errorf("max_message_size %d: %w", c.MaxMessageSize, errNegative)
	case c.PingInterval < 0:
		return c, fmt.Errorf("ping_interval %s: %w", c.PingInterval, errNegative)
	case c.WriteTimeout < 0:
		return c, fmt.Errorf("write_timeout %s: %w", c.WriteTimeout, errNegative)
	case c.Auth.Timeout < 0:
		return c, fmt.Errorf("auth.timeout %s: %w", c.Auth.Timeout, errNegative)
	case c.Signal.Rate < 0:
		return c, fmt.Errorf("signal.rate %g: %w", c.Signal.Rate, errNegative)
	case c.Signal.Burst < 0:
		return c, fmt.Errorf("signal.burst %d: %w", c.Signal.Burst, errNegative)
	case c.Signal.PairBytes < 0:
		return c, fmt.Errorf("signal.pair_bytes %d: %w", c.Signal.PairBytes, errNegative)
	}
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		return c, fmt.Errorf("tls.cert %q, tls.key %q: %w", c.TLS.Cert, c.TLS.Key, errTLSPair)
	}
	if _, err := parseOrigins(c.AllowedOrigins); err != nil {
		return c, err
	}
	if err := clusterauth.Check(c.Cluster.Secret); err != nil {
		return c, err
	}
	if err := (rtcconfig.Config{ICEServers: c.ICEServers}).Validate(); err != nil {
		return c, fmt.Errorf("%w", err)
	}
	if err := c.TURN.validate(); err != nil {
		return c, err
	}
	if err := checkPartition(c.Coordinator.ID, c.Coordinator.Count); err != nil {
		return c, err
	}
	return c, nil
}
