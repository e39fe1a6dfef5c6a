// Package cli is the start every server binary shares: layered config with
// --print-config, the logger, the Prometheus registry and the authenticator,
// so that cmd/coordinator and cmd/commserver hold only what differs.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/webrtc-broker/webrtc-broker/core/auth"
	"github.com/webrtc-broker/webrtc-broker/core/config"
	"github.com/webrtc-broker/webrtc-broker/core/logging"
	"github.com/webrtc-broker/webrtc-broker/plugins"
)

// Env is what a binary's serve function gets besides its config.
type Env struct {
	Logger   *slog.Logger
	Registry *prometheus.Registry // Go and process collectors registered
	Auth     auth.Authenticator   // closed by Run after serve returns
}

// Main runs a binary's run function with a context that ends on SIGINT or
// SIGTERM, the process's arguments, environment and standard streams, and
// exits with the code run returns.
func Main(run func(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Run loads cfg (a pointer to the binary's config struct) from defaults,
// --config, BROKER_ env and --set, builds the logger (from logOf(cfg)), the
// registry and the authenticator (from authOf(cfg)), and calls serve until it
// returns. It returns the exit code: 0 on a clean stop or after
// --print-config or --help, 2 on a command line it cannot parse, 1 on any
// other error; it has reported the error.
func Run[T any](ctx context.Context, name string, defaults map[string]any, args, environ []string,
	stdout, stderr io.Writer, cfg *T, logOf func(*T) logging.Config, authOf func(*T) auth.Config,
	serve func(ctx context.Context, cfg *T, env Env) error,
) int {
	err := config.Load(config.Options{Name: name, Args: args, Environ: environ, Defaults: defaults, Out: stdout, Err: stderr}, cfg)
	switch {
	case errors.Is(err, config.ErrPrinted), errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, config.ErrUsage): // Load has written the error and the usage
		return 2
	case err != nil:
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	logger, err := logging.New(logOf(cfg), stderr)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	authn, err := plugins.NewAuthenticator(ctx, authOf(cfg), logger, reg)
	if err != nil {
		logger.Error(name+" failed", "err", fmt.Errorf("auth: %w", err))
		return 1
	}
	err = serve(ctx, cfg, Env{Logger: logger, Registry: reg, Auth: authn})
	if cerr := authn.Close(); cerr != nil {
		logger.Warn("closing the authenticator", "err", cerr)
	}
	if err != nil {
		logger.Error(name+" failed", "err", err)
		return 1
	}
	return 0
}
