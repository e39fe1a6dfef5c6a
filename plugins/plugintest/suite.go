// Package plugintest is the auth plugin conformance suite. It starts a plugin
// binary through the broker's own host (package plugins), so a plugin that
// passes here behaves the same inside the coordinator and the communication
// servers. brokerctl plugin test runs it from the command line;
// RunConformance runs it from a plugin's own go test.
package plugintest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/webrtc-broker/webrtc-broker/core/auth"
	"github.com/webrtc-broker/webrtc-broker/plugins"
)

// Outcome is one check's result.
type Outcome struct {
	Name    string
	Err     error         // nil when the check passed
	Skipped string        // why the check did not apply, when it did not
	Detail  string        // what a pass measured, for the report line
	Elapsed time.Duration // how long the check took
}

// Passed reports whether the check passed (a skip is not a pass).
func (o Outcome) Passed() bool { return o.Err == nil && o.Skipped == "" }

// String is the report line: PASS, FAIL or SKIP, the name, and why.
func (o Outcome) String() string {
	switch {
	case o.Err != nil:
		return fmt.Sprintf("FAIL %s: %v", o.Name, o.Err)
	case o.Skipped != "":
		return fmt.Sprintf("SKIP %s: %s", o.Name, o.Skipped)
	case o.Detail != "":
		return fmt.Sprintf("PASS %s (%s; %s)", o.Name, o.Elapsed.Round(time.Microsecond), o.Detail)
	}
	return fmt.Sprintf("PASS %s (%s)", o.Name, o.Elapsed.Round(time.Microsecond))
}

// Run starts binary with cases.Config, runs the conformance checks and then
// cases.Cases, and stops the plugin. Outcomes come in the order they ran; the
// first is always the handshake. logger receives the host's and the
// plugin's logs; nil discards them.
func Run(ctx context.Context, binary string, cases Cases, logger *slog.Logger) []Outcome {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	timeout := cases.Timeout
	if timeout <= 0 {
		timeout = auth.DefaultTimeout
	}
	s := &suite{ctx: ctx, timeout: timeout}
	cfg := auth.Config{Plugin: binary, Config: cases.Config, Timeout: timeout}

	var out []Outcome
	start := time.Now()
	a, err := plugins.NewAuthenticator(ctx, cfg, logger, prometheus.NewRegistry())
	out = append(out, Outcome{Name: "handshake", Err: err, Elapsed: time.Since(start),
		Detail: "started, handshake and Configure accepted"})
	if err != nil {
		return out
	}
	defer a.Close()
	if _, isBuiltin := a.(auth.AllowAll); isBuiltin {
		out[0].Err = errors.New("no plugin was started")
		return out
	}
	s.a = a
	for _, c := range s.checks() {
		out = append(out, s.run(c.name, c.fn))
	}
	for i, c := range cases.Cases {
		name := c.Name
		if name == "" {
			name = fmt.Sprintf("#%d", i+1)
		}
		out = append(out, s.run("case "+name, func() (string, error) { return s.userCase(c) }))
	}
	return out
}

// RunConformance runs the suite as subtests of t, one per check and case.
// Build the plugin first, for example with go build into t.TempDir().
func RunConformance(t *testing.T, binary string, cases Cases) {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	for _, o := range Run(t.Context(), binary, cases, logger) {
		t.Run(o.Name, func(t *testing.T) {
			switch {
			case o.Err != nil:
				t.Fatal(o.Err)
			case o.Skipped != "":
				t.Skip(o.Skipped)
			}
			t.Log(o.String())
		})
	}
}

// Summary is the report's last line.
func Summary(outcomes []Outcome) (line string, ok bool) {
	var passed, failed, skipped int
	for _, o := range outcomes {
		switch {
		case o.Err != nil:
			failed++
		case o.Skipped != "":
			skipped++
		default:
			passed++
		}
	}
	line = fmt.Sprintf("%d passed, %d failed", passed, failed)
	if skipped > 0 {
		line += fmt.Sprintf(", %d skipped", skipped)
	}
	return line, failed == 0
}

// errSkip carries a skip's reason out of a check.
type errSkip string

func (e errSkip) Error() string { return string(e) }

func (s *suite) run(name string, fn func() (string, error)) Outcome {
	start := time.Now()
	detail, err := fn()
	o := Outcome{Name: name, Detail: detail, Elapsed: time.Since(start)}
	var skip errSkip
	if errors.As(err, &skip) {
		o.Skipped = string(skip)
	} else {
		o.Err = err
	}
	return o
}
