package main

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
)

// commandLines are every command and action brokerctl has, as typed after
// "brokerctl"; TestEveryCommandIsListed keeps it complete.
var commandLines = [][]string{
	{},
	{"cluster"},
	{"load"},
	{"plugin"},
	{"plugin", "test"},
	{"script"},
	{"script", "test"},
	{"script", "check"},
	{"token"},
	{"token", "mint"},
	{"token", "verify"},
}

func TestEveryCommandIsListed(t *testing.T) {
	for _, c := range subcommands {
		if !slices.ContainsFunc(commandLines, func(l []string) bool { return len(l) > 0 && l[0] == c.name }) {
			t.Errorf("subcommand %q is missing from commandLines: its --help is untested", c.name)
		}
	}
}

// TestHelpExitsZeroAndBadFlagsTwo: asking for help is not an error (exit
// 0, usage on stdout); an unknown flag is a usage error (exit 2, the error
// and the usage on stderr).
func TestHelpExitsZeroAndBadFlagsTwo(t *testing.T) {
	for _, line := range commandLines {
		for _, help := range []string{"-h", "--help", "-help"} {
			args := append(slices.Clone(line), help)
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				var stdout, stderr bytes.Buffer
				if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
					t.Fatalf("exit %d, want 0; stdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
				}
				if !strings.Contains(strings.ToLower(stdout.String()), "usage") {
					t.Fatalf("stdout has no usage:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
				}
			})
		}
		args := append(slices.Clone(line), "--no-such-flag")
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), args, &stdout, &stderr); code != 2 {
				t.Fatalf("exit %d, want 2; stdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
			}
			if !strings.Contains(strings.ToLower(stderr.String()), "usage") || !strings.Contains(stderr.String(), "no-such-flag") {
				t.Fatalf("stderr lacks the bad flag or the usage:\n%s", stderr.String())
			}
		})
	}
}

func TestUnknownCommandExitsTwo(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"frobnicate"}, &stdout, &stderr); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	if !strings.Contains(stderr.String(), `"frobnicate"`) || !strings.Contains(stderr.String(), "usage") {
		t.Fatalf("stderr does not name the unknown command and show the usage:\n%s", stderr.String())
	}
}
