// Package luahost runs the per-topic Lua packet policies of a communication
// server: sandboxed gopher-lua states from a pool, scripts compiled once, hot
// reload of the scripts directory. It implements policy.Policy.
package luahost

import (
	"context"
	"errors"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// Options configure a Host.
type Options struct {
	Dir         string            // the scripts directory (scripts.dir)
	Logger      *slog.Logger
	Registerer  prometheus.Registerer
	ServerAlias func() uint64 // the server's current alias, shown to hooks
}

// Host is the Lua policy host.
type Host struct{}

// New loads every script in opts.Dir and watches it until ctx is done.
func New(ctx context.Context, opts Options) (*Host, error) {
	return nil, errors.New("lua host: not implemented yet")
}
