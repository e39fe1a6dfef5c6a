package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/internal/testwait"
)

// syncBuffer is a bytes.Buffer that the program and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestExitCodes(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		environ []string
		want    int
		output  string // expected in stdout+stderr
	}{
		{"print config", []string{"--print-config"}, nil, 0, "coordinator_url: ws://127.0.0.1:9090"},
		{"env shows in printed config", []string{"--print-config"}, []string{"BROKER_ROLE=hub"}, 0, "role: hub"},
		{"unknown key", []string{"--set", "no_such_key=1"}, nil, 1, "no_such_key"},
		{"coordinator_ca with ws://", []string{"--set", "coordinator_ca=/etc/ca.pem"}, nil, 1, "only used with a wss:// coordinator_url"},
		{"unreadable coordinator_ca", []string{"--set", "coordinator_url=wss://127.0.0.1:1", "--set", "coordinator_ca=/nonexistent.pem"}, nil, 1, "/nonexistent.pem"},
		{"--help", []string{"--help"}, nil, 0, "-print-config"},
		{"-h", []string{"-h"}, nil, 0, "-set key=value"},
		{"unknown flag", []string{"--no-such-flag"}, nil, 2, "no-such-flag"},
		{"unknown flag shows the usage", []string{"--no-such-flag"}, nil, 2, "-print-config"},
		{"stray argument", []string{"serve"}, nil, 2, `unexpected argument "serve"`},
		{"unknown role", []string{"--set", "role=proxy"}, nil, 1, "role"},
		{"bad log level", []string{"--set", "log.level=loud"}, nil, 1, "log.level"},
		{"unusable metrics address", []string{"--set", "http.listen=256.0.0.1:1"}, nil, 1, "http.listen"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out syncBuffer
			if got := run(context.Background(), c.args, c.environ, &out, &out); got != c.want {
				t.Fatalf("exit code %d, want %d; output:\n%s", got, c.want, out.String())
			}
			if !strings.Contains(out.String(), c.output) {
				t.Fatalf("output lacks %q:\n%s", c.output, out.String())
			}
		})
	}
}

// With no coordinator to reach, the server keeps retrying and still stops
// cleanly, exit code 0, when its context ends.
func TestRunsUntilCancelledThenExitsZero(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{
			"--set", "coordinator_url=ws://127.0.0.1:1", "--set", "webrtc.loopback_only=true",
		}, nil, &out, &out)
	}()
	testwait.For(t, 10*time.Second, "a reconnect line", func() bool {
		return strings.Contains(out.String(), "coordinator link down")
	})
	cancel()
	select {
	case code := <-exited:
		if code != 0 {
			t.Fatalf("exit code %d, want 0; output:\n%s", code, out.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("did not stop; output:\n%s", out.String())
	}
}
