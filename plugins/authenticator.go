// Package plugins runs authentication as hashicorp/go-plugin processes: the
// gRPC contract, the host side that launches, pins, bounds and restarts a
// plugin binary, and NewAuthenticator, which both servers call to get their
// auth.Authenticator from the auth.* config keys.
package plugins

import (
	"context"
	"errors"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/webrtc-broker/webrtc-broker/core/auth"
)

// NewAuthenticator returns the authenticator the auth config asks for: the
// built-in allow-all (with a warning) when no plugin is set, else the plugin.
// Metrics are registered on reg.
func NewAuthenticator(ctx context.Context, cfg auth.Config, logger *slog.Logger, reg prometheus.Registerer) (auth.Authenticator, error) {
	if cfg.Plugin == "" {
		logger.Warn("no auth plugin configured: every peer is allowed (set auth.plugin)")
		return auth.AllowAll{}, nil
	}
	return nil, errors.New("auth plugins: not implemented yet")
}
