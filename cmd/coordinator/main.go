// Command coordinator runs the broker's coordinator: the WebSocket entry point
// that authenticates peers, hands out aliases and server lists, and relays
// WebRTC signaling. See coordinator.Config for its keys; --print-config shows
// the effective configuration.
package main

import (
	"context"
	"fmt"
	"io"
	"net"

	"github.com/webrtc-broker/webrtc-broker/cmd/internal/cli"
	"github.com/webrtc-broker/webrtc-broker/coordinator"
	"github.com/webrtc-broker/webrtc-broker/core/auth"
	"github.com/webrtc-broker/webrtc-broker/core/logging"
)

func main() { cli.Main(run) }

// run is the whole program; it returns the exit code (see cli.Run).
func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	var cfg coordinator.Config
	return cli.Run(ctx, "coordinator", coordinator.Defaults(), args, environ, stdout, stderr, &cfg,
		func(c *coordinator.Config) logging.Config { return c.Log },
		func(c *coordinator.Config) auth.Config { return c.Auth },
		serve)
}

// serve runs the coordinator until ctx is done. SIGHUP reloads tls.cert
// and tls.key; sockets already open stay (see ReloadCertificate).
func serve(ctx context.Context, cfg *coordinator.Config, env cli.Env) error {
	c, err := coordinator.New(*cfg, coordinator.Options{Logger: env.Logger, Auth: env.Auth, Registry: env.Registry})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	// ReloadCertificate logs its outcome, a failure included.
	stop := cli.OnHangup(ctx, func() { _ = c.ReloadCertificate() })
	defer stop()
	return c.Serve(ctx, ln)
}
