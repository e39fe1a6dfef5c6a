package coordinator

import (
	"fmt"
	"maps"
	"time"

	"github.com/webrtc-broker/webrtc-broker/core/auth"
	"github.com/webrtc-broker/webrtc-broker/core/logging"
)

// Config is the coordinator's configuration (the coordinator binary's keys).
// Zero durations and sizes mean the defaults, so a Config literal in a test
// only sets what it cares about.
type Config struct {
	Listen         string         `koanf:"listen"`           // default 127.0.0.1:9090
	Selector       string         `koanf:"selector"`         // random (default) | least-loaded | star
	MaxMessageSize int64          `koanf:"max_message_size"` // WebSocket read limit, default 65536
	PingInterval   time.Duration  `koanf:"ping_interval"`    // default 10s; pong wait = 2x
	WriteTimeout   time.Duration  `koanf:"write_timeout"`    // default 5s
	Auth           auth.Config    `koanf:"auth"`
	Log            logging.Config `koanf:"log"`
}

const (
	defaultListen         = "127.0.0.1:9090"
	defaultMaxMessageSize = 64 << 10
	defaultPingInterval   = 10 * time.Second
	defaultWriteTimeout   = 5 * time.Second
	defaultAuthTimeout    = 2 * time.Second
)

// Defaults are the coordinator binary's config defaults, flat keys, for
// config.Load.
func Defaults() map[string]any {
	d := map[string]any{
		"listen":           defaultListen,
		"selector":         selectorRandom,
		"max_message_size": defaultMaxMessageSize,
		"ping_interval":    defaultPingInterval.String(),
		"write_timeout":    defaultWriteTimeout.String(),
		"log.level":        "info",
		"log.format":       "text",
	}
	maps.Copy(d, auth.Defaults())
	return d
}

// withDefaults fills zero values and rejects values that cannot work.
func (c Config) withDefaults() (Config, error) {
	if c.Listen == "" {
		c.Listen = defaultListen
	}
	if c.Selector == "" {
		c.Selector = selectorRandom
	}
	if c.MaxMessageSize == 0 {
		c.MaxMessageSize = defaultMaxMessageSize
	}
	if c.PingInterval == 0 {
		c.PingInterval = defaultPingInterval
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = defaultWriteTimeout
	}
	if c.Auth.Timeout == 0 {
		c.Auth.Timeout = defaultAuthTimeout
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
	}
	return c, nil
}
