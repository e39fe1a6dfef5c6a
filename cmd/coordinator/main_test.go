package main

import (
	"bytes"
	"context"
	"net/http"
	"regexp"
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
		{"print config", []string{"--print-config"}, nil, 0, "selector: random"},
		{"env shows in printed config", []string{"--print-config"}, []string{"BROKER_SELECTOR=star"}, 0, "selector: star"},
		{"unknown key", []string{"--set", "no_such_key=1"}, nil, 1, "no_such_key"},
		{"--help", []string{"--help"}, nil, 0, "-print-config"},
		{"-h", []string{"-h"}, nil, 0, "-set key=value"},
		{"unknown flag", []string{"--no-such-flag"}, nil, 2, "no-such-flag"},
		{"unknown flag shows the usage", []string{"--no-such-flag"}, nil, 2, "-print-config"},
		{"stray argument", []string{"serve"}, nil, 2, `unexpected argument "serve"`},
		{"unknown selector", []string{"--set", "selector=round-robin", "--set", "listen=127.0.0.1:0"}, nil, 1, "unknown selector"},
		{"bad log level", []string{"--set", "log.level=loud"}, nil, 1, "log.level"},
		{"unusable listen address", []string{"--set", "listen=256.0.0.1:1"}, nil, 1, "listen on"},
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

func TestServesUntilCancelledThenExitsZero(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"--set", "listen=127.0.0.1:0", "--set", "log.level=debug"}, nil, &out, &out)
	}()

	addrRE := regexp.MustCompile(`"coordinator listening" addr=(127\.0\.0\.1:\d+)`)
	var addr string
	testwait.For(t, 10*time.Second, "the listening line", func() bool {
		if m := addrRE.FindStringSubmatch(out.String()); m != nil {
			addr = m[1]
		}
		return addr != ""
	})
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := client.Get("http://" + addr + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: HTTP %d", path, resp.StatusCode)
		}
	}

	cancel()
	select {
	case code := <-exited:
		if code != 0 {
			t.Fatalf("exit code %d after cancel, want 0; output:\n%s", code, out.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not stop after cancel")
	}
	if !strings.Contains(out.String(), "no auth plugin configured") {
		t.Errorf("no warning about the missing auth plugin:\n%s", out.String())
	}
}
