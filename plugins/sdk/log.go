package sdk

import (
	"log/slog"
	"os"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// stderr is the process's real stderr, taken before go-plugin's Serve swaps
// os.Stderr for a pipe. The host parses JSON lines on it as structured log
// records and logs them tagged with the plugin's name.
var stderr = os.Stderr

// hclogTimeFormat is the time layout go-plugin's host expects in a record.
const hclogTimeFormat = "2006-01-02T15:04:05.000000Z07:00"

// Logger returns a logger whose records reach the broker's log with their
// level and attributes, tagged with the plugin's name. Plain writes to
// os.Stderr after Serve also reach it, one record per line.
func Logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				return slog.String("@timestamp", a.Value.Time().Format(hclogTimeFormat))
			case slog.LevelKey:
				return slog.String("@level", strings.ToLower(a.Value.String()))
			case slog.MessageKey:
				return slog.String("@message", a.Value.String())
			}
			return a
		},
	}))
}

// hclogLogger is go-plugin's own logger inside the plugin process; its trace
// and debug chatter is not worth the host's time.
func hclogLogger() hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Level: hclog.Info, Output: stderr, JSONFormat: true})
}
