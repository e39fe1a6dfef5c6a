package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/webrtc-broker/webrtc-broker/commserver/luahost"
)

func init() {
	register(subcommand{
		name:  "script",
		usage: "test DIR [--verbose] | check FILE...: run the Lua rules' test cases, or compile rules",
		run:   runScript,
	})
}

const scriptUsage = `usage:
  brokerctl script test DIR [--verbose]   run every *.cases.yaml in DIR against the rules in DIR
  brokerctl script check FILE...          compile rules and show what each declares`

func runScript(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "test":
			return runScriptTest(ctx, args[1:], stdout, stderr)
		case "check":
			return runScriptCheck(args[1:], stdout, stderr)
		}
	}
	return usageExit("brokerctl script", args, stdout, stderr, func(w io.Writer) { fmt.Fprintln(w, scriptUsage) })
}

// runScriptTest exits 0 when every case passed, 1 when one failed, 2 when the
// directory could not be tested.
func runScriptTest(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("script test", "DIR [flags]")
	verbose := fs.Bool("verbose", false, "show what the scripts log (broker.log, print)")
	// The directory may come before or after the flags.
	var dir string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		dir, args = args[0], args[1:]
	}
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if dir == "" && fs.NArg() == 1 {
		dir = fs.Arg(0)
	} else if dir == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "brokerctl script test: give exactly one directory")
		return 2
	}
	var log *slog.Logger
	if *verbose {
		log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	_, failed, err := luahost.RunCases(ctx, dir, stdout, log)
	if err != nil {
		fmt.Fprintln(stderr, "brokerctl script test:", err)
		return 2
	}
	if failed > 0 {
		return 1
	}
	return 0
}

// runScriptCheck prints "FILE: ok, ..." per script that loads and
// "FILE:LINE: message" per one that does not; exit 1 if any did not.
func runScriptCheck(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("script check", "FILE...")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	files := fs.Args()
	if len(files) == 0 {
		fmt.Fprintln(stderr, "brokerctl script check: give one or more .lua files")
		return 2
	}
	code := 0
	for _, f := range files {
		d, err := luahost.Check(f)
		if err != nil {
			fmt.Fprintln(stdout, err)
			code = 1
			continue
		}
		fmt.Fprintf(stdout, "%s: ok, governs %s with %s, fails %s, time-out %v\n",
			f, strings.Join(d.Topics, " "), strings.Join(d.Hooks, ", "), d.Failure, d.Timeout)
	}
	return code
}
