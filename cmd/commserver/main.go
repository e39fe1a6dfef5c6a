// Command commserver runs a communication server: it registers with the
// coordinator, accepts WebRTC peers and relays their topic messages, alone,
// in a mesh or as the hub of a star. See commserver.Config for its keys;
// --print-config shows the effective configuration.
package main

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"
	"sync/atomic"
	"syscall"

	"github.com/webrtc-broker/webrtc-broker/cmd/internal/cli"
	"github.com/webrtc-broker/webrtc-broker/commserver"
	"github.com/webrtc-broker/webrtc-broker/commserver/luahost"
	"github.com/webrtc-broker/webrtc-broker/core/auth"
	"github.com/webrtc-broker/webrtc-broker/core/logging"
	"github.com/webrtc-broker/webrtc-broker/core/policy"
)

func main() { cli.Main(run) }

// run is the whole program; it returns the exit code (see cli.Run).
func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	var cfg commserver.Config
	return cli.Run(ctx, "commserver", commserver.Defaults(), args, environ, stdout, stderr, &cfg,
		func(c *commserver.Config) logging.Config { return c.Log },
		func(c *commserver.Config) auth.Config { return c.Auth },
		serve)
}

// serve runs the server until ctx is done (SIGTERM, SIGINT), then drains it
// (commserver.Server.Drain: clients are moved to other servers, for up to
// shutdown.grace) and stops it.
func serve(ctx context.Context, cfg *commserver.Config, env cli.Env) error {
	logger, reg := env.Logger, env.Registry
	if limit := cfg.Runtime.MemoryLimit; limit > 0 {
		// Process-wide, so here and not in commserver.New: a test process
		// runs many servers.
		debug.SetMemoryLimit(int64(limit))
		logger.Info("Go memory limit set", "runtime.memory_limit", limit)
	}
	// The server and its scripts outlive ctx by the drain.
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	// The Lua host shows hooks the server's alias, which changes when the
	// server re-registers with the coordinator.
	var srv atomic.Pointer[commserver.Server]
	var pol policy.Policy
	if cfg.Scripts.Dir != "" {
		host, err := luahost.New(runCtx, luahost.Options{
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

	s, err := commserver.New(*cfg, commserver.Options{Logger: logger, Auth: env.Auth, Policy: pol, Registry: reg})
	if err != nil {
		return err
	}
	srv.Store(s)
	ran := make(chan error, 1)
	go func() { ran <- s.Run(runCtx) }()
	select {
	case err := <-ran:
		return err
	case <-ctx.Done():
	}
	s.Drain(runCtx)
	stop()
	return <-ran
}
