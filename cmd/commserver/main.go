// Command commserver runs a communication server: it registers with the
// coordinator, accepts WebRTC peers and relays their topic messages, alone,
// in a mesh or as the hub of a star. See commserver.Config for its keys;
// --print-config shows the effective configuration.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/webrtc-broker/webrtc-broker/commserver"
	"github.com/webrtc-broker/webrtc-broker/commserver/luahost"
	"github.com/webrtc-broker/webrtc-broker/core/config"
	"github.com/webrtc-broker/webrtc-broker/core/logging"
	"github.com/webrtc-broker/webrtc-broker/core/policy"
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
	var cfg commserver.Config
	err := config.Load(config.Options{
		Name: "commserver", Args: args, Environ: environ,
		Defaults: commserver.Defaults(), Out: stdout,
	}, &cfg)
	switch {
	case errors.Is(err, config.ErrPrinted):
		return 0
	case err != nil:
		fmt.Fprintln(stderr, "commserver:", err)
		return 1
	}
	logger, err := logging.New(cfg.Log, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "commserver:", err)
		return 1
	}
	if err := serve(ctx, cfg, logger); err != nil {
		logger.Error("commserver failed", "err", err)
		return 1
	}
	return 0
}

// serve runs the server until ctx is done.
func serve(ctx context.Context, cfg commserver.Config, logger *slog.Logger) error {
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

	// The Lua host shows hooks the server's alias, which changes when the
	// server re-registers with the coordinator.
	var srv atomic.Pointer[commserver.Server]
	var pol policy.Policy
	if cfg.Scripts.Dir != "" {
		host, err := luahost.New(ctx, luahost.Options{
			Dir: cfg.Scripts.Dir, Logger: logger, Registerer: reg,
			ServerAlias: func() uint64 {
				if s := srv.Load(); s != nil {
					return s.Alias()
				}
				return 0
			},
		})
		if err != nil {
			return fmt.Errorf("scripts: %w", err)
		}
		defer func() {
			if err := host.Close(); err != nil {
				logger.Warn("closing the Lua host", "err", err)
			}
		}()
		host.ReloadOnSignal(syscall.SIGHUP) // as well as on file changes
		pol = host
	}

	s, err := commserver.New(cfg, commserver.Options{Logger: logger, Auth: authn, Policy: pol, Registry: reg})
	if err != nil {
		return err
	}
	srv.Store(s)
	return s.Run(ctx)
}
