package natsbus

import (
	"errors"
	"fmt"
	"net/url"
	"os"
)

// Config is the nats section of the communication server's config, in force
// with cluster.transport=nats.
type Config struct {
	// URL lists the NATS servers to connect to (nats:// or tls://); the
	// client also learns the rest of a cluster from the server it reaches.
	URL []string `koanf:"url"`
	// Token authenticates with a token; Creds with a credentials file
	// (JWT and seed). At most one of them.
	Token string `koanf:"token"`
	Creds string `koanf:"creds"`
	TLS   struct {
		// CA is a PEM file of the CAs that sign the NATS servers'
		// certificates; empty = the system's roots (with tls:// URLs).
		CA string `koanf:"ca"`
	} `koanf:"tls"`
	// PendingLimit bounds each topic subscription's messages received but
	// not yet handed to the local clients' queues; over it NATS drops and
	// reports a slow consumer (logged, counted in
	// commserver_nats_slow_consumer_total). Default 65536.
	PendingLimit int `koanf:"pending_limit"`
	// SubjectPrefix is put before every topic's subject, so that several
	// broker clusters may share one NATS. Default "wrb".
	SubjectPrefix string `koanf:"subject_prefix"`
}

// DefaultURL is nats.url's default: a NATS server on this machine.
const DefaultURL = "nats://127.0.0.1:4222"

// pendingBytes bounds each subscription's pending bytes (nats.go's default).
const pendingBytes = 64 << 20

// Defaults are the nats section's config defaults, flat keys.
func Defaults() map[string]any {
	return map[string]any{
		"nats.url":            []string{DefaultURL},
		"nats.token":          "",
		"nats.creds":          "",
		"nats.tls.ca":         "",
		"nats.pending_limit":  65536,
		"nats.subject_prefix": "wrb",
	}
}

var (
	errBothCreds   = errors.New("nats.token and nats.creds are exclusive: set one")
	errBadURL      = errors.New("nats.url entries must be nats:// or tls:// URLs with a host")
	errNonPositive = errors.New("must be positive")
)

// Check rejects a config that cannot work, with the key at fault. Files
// named by creds and tls.ca must be readable now, not at the first
// reconnect.
func (c Config) Check() error {
	if c.Token != "" && c.Creds != "" {
		return errBothCreds
	}
	for _, raw := range c.urls() {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "nats" && u.Scheme != "tls") || u.Host == "" {
			return fmt.Errorf("nats.url %q: %w", raw, errBadURL)
		}
	}
	if c.PendingLimit <= 0 {
		return fmt.Errorf("nats.pending_limit %d: %w", c.PendingLimit, errNonPositive)
	}
	if err := checkPrefix(c.SubjectPrefix); err != nil {
		return err
	}
	for key, path := range map[string]string{"nats.creds": c.Creds, "nats.tls.ca": c.TLS.CA} {
		if path == "" {
			continue
		}
		if _, err := os.ReadFile(path); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
	}
	return nil
}

// urls is URL, or the default when it is empty.
func (c Config) urls() []string {
	if len(c.URL) == 0 {
		return []string{DefaultURL}
	}
	return c.URL
}
