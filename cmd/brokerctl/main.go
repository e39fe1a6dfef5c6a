// Command brokerctl is the operator's tool: simulated clients and load
// generation, the auth plugin test harness, the Lua rule tester and token
// minting. Each subcommand lives in its own file.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
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
	fmt.Fprintln(stderr, "usage: brokerctl COMMAND [ARGS]\n\ncommands:")
	for _, c := range subcommands {
		fmt.Fprintf(stderr, "  %-8s %s\n", c.name, c.usage)
	}
	return 2
}
