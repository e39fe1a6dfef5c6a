package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/webrtc-broker/webrtc-broker/plugins/token/tokens"
)

func init() {
	register(subcommand{
		name:  "token",
		usage: "mint --secret S --identity ID [--role R] [--ttl D] | verify --secret S TOKEN: tokens for the token auth plugin",
		run:   runToken,
	})
}

func runToken(_ context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: brokerctl token mint|verify [flags]")
		return 2
	}
	fs := flag.NewFlagSet("token "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	secret := fs.String("secret", "", "the token plugin's secret (auth.config.secret)")
	switch args[0] {
	case "mint":
		identity := fs.String("identity", "", "identity the token carries (what receivers see)")
		role := fs.String("role", "client", "role the token admits: client, server or hub")
		ttl := fs.Duration("ttl", time.Hour, "lifetime")
		if err := fs.Parse(args[1:]); err != nil {
			return 2
		}
		r, err := tokens.ParseRole(*role)
		if err != nil {
			fmt.Fprintln(stderr, "brokerctl token mint:", err)
			return 2
		}
		if *ttl <= 0 {
			fmt.Fprintln(stderr, "brokerctl token mint: --ttl must be positive")
			return 2
		}
		tok, err := tokens.Mint([]byte(*secret), tokens.Claims{Identity: *identity, Role: r, Expiry: time.Now().Add(*ttl)})
		if err != nil {
			fmt.Fprintln(stderr, "brokerctl token mint:", err)
			return 2
		}
		fmt.Fprintln(stdout, tok)
		return 0
	case "verify":
		if err := fs.Parse(args[1:]); err != nil {
			return 2
		}
		if fs.NArg() != 1 {
			fmt.Fprintln(stderr, "usage: brokerctl token verify --secret S TOKEN")
			return 2
		}
		c, err := tokens.Verify([]byte(*secret), fs.Arg(0), time.Now())
		if err != nil {
			fmt.Fprintln(stderr, "brokerctl token verify:", err)
			return 1
		}
		fmt.Fprintf(stdout, "identity=%s role=%s expires=%s\n", c.Identity, tokens.RoleName(c.Role), c.Expiry.Format(time.RFC3339))
		return 0
	}
	fmt.Fprintf(stderr, "brokerctl token: unknown action %q (want mint or verify)\n", args[0])
	return 2
}
