package main

import (
	"context"
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
	if len(args) == 0 || (args[0] != "mint" && args[0] != "verify") {
		return usageExit("brokerctl token", args, stdout, stderr, func(w io.Writer) {
			fmt.Fprintln(w, "usage: brokerctl token mint|verify [flags]")
		})
	}
	synopsis := "--secret S --identity ID [--role R] [--ttl D]"
	if args[0] == "verify" {
		synopsis = "--secret S TOKEN"
	}
	fs := newFlags("token "+args[0], synopsis)
	secret := fs.String("secret", "", "the token plugin's secret (auth.config.secret)")
	switch args[0] {
	case "mint":
		identity := fs.String("identity", "", "identity the token carries (what receivers see)")
		role := fs.String("role", "client", "role the token admits: client, server or hub")
		ttl := fs.Duration("ttl", time.Hour, "lifetime")
		if code, ok := parseFlags(fs, args[1:], stdout, stderr); !ok {
			return code
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
	default: // verify, the only other action usageExit lets through
		if code, ok := parseFlags(fs, args[1:], stdout, stderr); !ok {
			return code
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
}
