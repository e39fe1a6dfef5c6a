// Package plugins runs authentication as hashicorp/go-plugin processes: the
// host side that launches, pins, bounds and restarts a plugin binary, and
// NewAuthenticator, which both servers call to get their auth.Authenticator
// from the auth.* config keys. The contract itself (the gRPC service in
// plugins/proto and the handshake in plugins/sdk) is shared with plugins.
package plugins

import (
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/webrtc-broker/webrtc-broker/core/auth"
)

// NewAuthenticator returns the authenticator the auth config asks for: the
// built-in allow-all (with a warning) when no plugin is set, else the plugin.
// Metrics are registered on reg.
//
// With a plugin, it returns only once the process runs and has accepted
// auth.config, and refuses to start on a checksum mismatch, a failed
// handshake or a rejected config. ctx bounds that start only; the plugin runs
// until Close, which kills it.
func NewAuthenticator(ctx context.Context, cfg auth.Config, logger *slog.Logger, reg prometheus.Registerer) (auth.Authenticator, error) {
	return newAuthenticator(ctx, cfg, logger, reg, startTimeout)
}

// newAuthenticator is NewAuthenticator with the bound of each plugin start.
func newAuthenticator(ctx context.Context, cfg auth.Config, logger *slog.Logger, reg prometheus.Registerer, startTimeout time.Duration) (auth.Authenticator, error) {
	if cfg.Plugin == "" {
		logger.Warn("no auth plugin configured: every peer is allowed (set auth.plugin)")
		return auth.AllowAll{}, nil
	}
	path, err := exec.LookPath(cfg.Plugin)
	if err != nil {
		return nil, fmt.Errorf("auth.plugin %q: %w", cfg.Plugin, err)
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	sum, err := parseChecksum(cfg.SHA256)
	if err != nil {
		return nil, err
	}
	config, err := configJSON(cfg.Config)
	if err != nil {
		return nil, err
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = auth.DefaultTimeout
	}
	name := filepath.Base(path)
	h := &host{
		name:    name,
		path:    path,
		sum:     sum,
		config:  config,
		timeout: timeout,
		start:   startTimeout,
		logger:  logger.With(slog.String("plugin", name)),
		m:       newMetrics(reg, name),
		kick:    make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	// Not from ctx, which bounds the start only.
	h.life, h.endLife = context.WithCancel(context.Background())
	h.stop = h.life.Done()
	started := make(chan error, 1)
	go h.supervise(ctx, started)
	select {
	case err := <-started:
		if err != nil {
			<-h.done
			return nil, err
		}
	case <-ctx.Done():
		h.Close()
		return nil, fmt.Errorf("auth plugin %s: start: %w", path, ctx.Err())
	}
	logger.Info("auth plugin running", slog.String("plugin", name), slog.String("path", path),
		slog.Bool("checksum_pinned", sum != nil), slog.Duration("timeout", timeout))
	return h, nil
}
