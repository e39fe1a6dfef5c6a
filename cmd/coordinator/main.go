// Command coordinator runs the broker's coordinator: the WebSocket entry point
// that authenticates peers, hands out aliases and server lists, and relays
// WebRTC signaling. See coordinator.Config for its keys; --print-config shows
// the effective configuration.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/webrtc-broker/webrtc-broker/coordinator"
	"github.com/webrtc-broker/webrtc-broker/core/config"
	"github.com/webrtc-broker/webrtc-broker/core/logging"
	"github.com/webrtc-broker/webrtc-broker/plugins"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program: 0 on a clean stop (or after --print-config), 1
// on an error, which it has already reported.
func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	var cfg coordinator.Config
	err := config.Load(config.Options{
		Name: "coordinator", Args: args, Environ: environ,
		Defaults: coordinator.Defaults(), Out: stdout,
	}, &cfg)
	switch {
	case errors.Is(err, config.ErrPrinted):
		return 0
	case err != nil:
		fmt.Fprintln(stderr, "coordinator:", err)
		return 1
	}
	logger, err := logging.New(cfg.Log, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "coordinator:", err)
		return 1
	}
	if err := serve(ctx, cfg, logger); err != nil {
		logger.Error("coordinator failed", "err", err)
		return 1
	}
	return 0
}

// serve runs the coordinator until ctx is done.
func serve(ctx context.Context, cfg coordinator.Config, logger *slog.Logger) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	authn, err := plugins.NewAuthenticator(ctx, cfg.Auth, logger, reg)
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	defer func() {
		if err := authn.Close(); err != nil {
			logger.Warn("closing the authenticator", "err", err)
		}
	}()

	c, err := coordinator.New(cfg, coordinator.Options{Logger: logger, Auth: authn, Registry: reg})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	return c.Serve(ctx, ln)
}
