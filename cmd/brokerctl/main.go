// Command brokerctl is the operator's tool: simulated clients and load
// generation, the auth plugin test harness, the Lua rule tester and token
// minting. Each subcommand lives in its own file.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// subcommand runs with the arguments after its name and returns the exit code.
type subcommand struct {
	name, usage string
	run         func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

// subcommands is filled by each subcommand file's init.
var subcommands []subcommand

func register(c subcommand) { subcommands = append(subcommands, c) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		for _, c := range subcommands {
			if c.name == args[0] {
				return c.run(ctx, args[1:], stdout, stderr)
			}
		}
	}
	return usageExit("brokerctl", args, stdout, stderr, func(w io.Writer) {
		fmt.Fprintln(w, "usage: brokerctl COMMAND [ARGS]\n\ncommands:")
		for _, c := range subcommands {
			fmt.Fprintf(w, "  %-8s %s\n", c.name, c.usage)
		}
	})
}

// usageExit ends a command whose arguments did not name an action it has:
// asked for help (-h, --help), it prints the usage on stdout and exits 0;
// otherwise it names what it did not understand, prints the usage on stderr
// and exits 2, the code of every usage error.
func usageExit(command string, args []string, stdout, stderr io.Writer, usage func(io.Writer)) int {
	switch {
	case len(args) > 0 && isHelp(args[0]):
		usage(stdout)
		return 0
	case len(args) > 0 && strings.HasPrefix(args[0], "-"):
		fmt.Fprintf(stderr, "%s: unknown flag %q\n", command, args[0])
	case len(args) > 0:
		fmt.Fprintf(stderr, "%s: unknown command %q\n", command, args[0])
	}
	usage(stderr)
	return 2
}

func isHelp(arg string) bool { return arg == "-h" || arg == "-help" || arg == "--help" }

// newFlags makes the flag set of the command "brokerctl NAME"; its usage
// is "usage: brokerctl NAME SYNOPSIS" and the flags.
func newFlags(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: brokerctl %s %s\n\nflags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args into fs. Asked for help, it prints the usage on
// stdout and the command exits 0 (flag.ErrHelp is no failure); a bad flag
// prints the error and the usage on stderr and the command exits 2. ok is
// false when the command must exit with code.
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (code int, ok bool) {
	var out bytes.Buffer
	fs.SetOutput(&out)
	err := fs.Parse(args)
	fs.SetOutput(stderr)
	switch {
	case err == nil:
		return 0, true
	case errors.Is(err, flag.ErrHelp):
		_, _ = out.WriteTo(stdout)
		return 0, false
	default:
		_, _ = out.WriteTo(stderr)
		return 2, false
	}
}
