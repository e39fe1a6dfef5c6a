package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/webrtc-broker/webrtc-broker/plugins/plugintest"
)

func init() {
	register(subcommand{
		name:  "plugin",
		usage: "test BINARY [--cases FILE] [--config FILE] [--timeout D]: run the auth plugin conformance suite",
		run:   runPlugin,
	})
}

func runPlugin(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "test" {
		return usageExit("brokerctl plugin", args, stdout, stderr, func(w io.Writer) {
			fmt.Fprintln(w, "usage: brokerctl plugin test BINARY [--cases FILE] [--config FILE] [--timeout D] [--verbose]")
		})
	}
	fs := newFlags("plugin test", "BINARY [flags]")
	casesFile := fs.String("cases", "", "YAML file of cases (and optionally the plugin's config)")
	configFile := fs.String("config", "", "YAML file holding the plugin's config section (auth.config); overrides the cases file's")
	timeout := fs.Duration("timeout", 0, "auth.timeout for every call (default: the cases file's, else 2s)")
	verbose := fs.Bool("verbose", false, "show the host's and the plugin's logs")
	binary, rest := splitPositional(args[1:])
	if code, ok := parseFlags(fs, rest, stdout, stderr); !ok {
		return code
	}
	if binary == "" && fs.NArg() == 1 {
		binary = fs.Arg(0)
	} else if binary == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "brokerctl plugin test: give exactly one plugin binary")
		return 2
	}

	var cases plugintest.Cases
	if *casesFile != "" {
		c, err := plugintest.LoadCases(*casesFile)
		if err != nil {
			fmt.Fprintln(stderr, "brokerctl plugin test:", err)
			return 2
		}
		cases = c
	}
	if *configFile != "" {
		cfg, err := plugintest.LoadConfig(*configFile)
		if err != nil {
			fmt.Fprintln(stderr, "brokerctl plugin test:", err)
			return 2
		}
		cases.Config = cfg
	}
	if *timeout > 0 {
		cases.Timeout = *timeout
	}
	level := slog.LevelError
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	start := time.Now()
	outcomes := plugintest.Run(ctx, binary, cases, logger)
	for _, o := range outcomes {
		fmt.Fprintln(stdout, o.String())
	}
	summary, ok := plugintest.Summary(outcomes)
	fmt.Fprintf(stdout, "%s (%s)\n", summary, time.Since(start).Round(time.Millisecond))
	if !ok {
		return 1
	}
	return 0
}

// splitPositional takes the first argument that is not a flag, so the binary
// may come before or after the flags as the usage line shows it.
func splitPositional(args []string) (string, []string) {
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		return args[0], args[1:]
	}
	return "", args
}
