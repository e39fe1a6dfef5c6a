package commserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/coordinator"
	"github.com/webrtc-broker/webrtc-broker/core/logging"
	"github.com/webrtc-broker/webrtc-broker/core/rtcconfig"
	"github.com/webrtc-broker/webrtc-broker/internal/testwait"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// The smoke tests run one real coordinator, one real server and real pion
// clients on loopback: the relay's basic promises, end to end. The full
// matrix (mesh, star, restarts, garbage) is in the e2e_*_test.go files.

const smokeTimeout = 15 * time.Second

func smokeLogger() *slog.Logger {
	if os.Getenv("BROKER_TEST_LOG") == "1" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return logging.Discard()
}

// startCoordinator serves a coordinator on a loopback port until the test
// ends and returns its ws:// URL.
func startCoordinator(t *testing.T) string {
	t.Helper()
	c, err := coordinator.New(coordinator.Config{Listen: "127.0.0.1:0"}, coordinator.Options{Logger: smokeLogger()})
	if err != nil {
		t.Fatalf("coordinator: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("coordinator Serve: %v", err)
		}
	})
	return "ws://" + ln.Addr().String()
}

// startServer runs a loopback-only server until the test ends and waits
// until it has registered with the coordinator.
func startServer(t *testing.T, coordURL string, adjust func(*Config)) *Server {
	t.Helper()
	cfg := Config{CoordinatorURL: coordURL, EstablishTimeout: 10 * time.Second}
	cfg.WebRTC.LoopbackOnly = true
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.HTTP.PProf = true
	if adjust != nil {
		adjust(&cfg)
	}
	s, err := New(cfg, Options{Logger: smokeLogger()})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(smokeTimeout):
			var stacks strings.Builder
			_ = pprof.Lookup("goroutine").WriteTo(&stacks, 1)
			t.Errorf("Run did not return within %s of its context ending; goroutines:\n%s", smokeTimeout, stacks.String())
		}
	})
	waitUntil(t, "the server registers with the coordinator", func() bool { return s.Stats().CoordinatorConnected })
	return s
}

func dialClient(t *testing.T, coordURL string, adjust func(*client.Config)) *client.Client {
	t.Helper()
	cfg := client.Config{CoordinatorURL: coordURL, WebRTC: rtcconfig.Config{LoopbackOnly: true}, Logger: smokeLogger()}
	if adjust != nil {
		adjust(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), smokeTimeout)
	defer cancel()
	cl, err := client.Dial(ctx, cfg)
	if err != nil {
		t.Fatalf("client Dial: %v", err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}

// waitUntil polls cond until it holds, failing the test after smokeTimeout.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testwait.For(t, smokeTimeout, what, cond)
}

// nextMessage returns the next message cl receives.
func nextMessage(t *testing.T, cl *client.Client) client.Message {
	t.Helper()
	select {
	case m, ok := <-cl.Messages():
		if !ok {
			t.Fatalf("client %d went down: %v", cl.Alias(), cl.Err())
		}
		return m
	case <-time.After(smokeTimeout):
		t.Fatalf("client %d: no message within %s", cl.Alias(), smokeTimeout)
	}
	return client.Message{}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), smokeTimeout)
	t.Cleanup(cancel)
	return ctx
}

func TestSmokeSingleServerRelay(t *testing.T) {
	coordURL := startCoordinator(t)
	s := startServer(t, coordURL, nil)
	alice := dialClient(t, coordURL, nil)
	bob := dialClient(t, coordURL, nil)

	for _, cl := range []*client.Client{alice, bob} {
		if err := cl.Subscribe(testCtx(t), "chat"); err != nil {
			t.Fatalf("client %d subscribe: %v", cl.Alias(), err)
		}
	}
	if st := s.Stats(); st.Clients != 2 || strings.Join(st.Topics, " ") != "chat" {
		t.Fatalf("Stats = %+v, want 2 clients subscribed to chat", st)
	}

	t.Run("PING is echoed on both channels", func(t *testing.T) {
		for _, reliable := range []bool{true, false} {
			if _, err := alice.Ping(testCtx(t), reliable); err != nil {
				t.Fatalf("ping (reliable=%v): %v", reliable, err)
			}
		}
	})

	t.Run("TOPIC reaches the other subscriber as TOPIC_FW on the same channel", func(t *testing.T) {
		for _, reliable := range []bool{true, false} {
			if err := alice.Publish("chat", []byte("hello"), reliable); err != nil {
				t.Fatalf("publish: %v", err)
			}
			m := nextMessage(t, bob)
			if m.Type != protocol.MessageType_TOPIC_FW || m.Topic != "chat" || string(m.Body) != "hello" ||
				m.FromAlias != alice.Alias() || m.Reliable != reliable {
				t.Fatalf("bob got %+v, want TOPIC_FW chat/hello from %d (reliable=%v)", m, alice.Alias(), reliable)
			}
		}
	})

	t.Run("TOPIC_IDENTITY carries the authenticated role", func(t *testing.T) {
		if err := bob.PublishIdentity("chat", []byte("who"), true); err != nil {
			t.Fatalf("publish: %v", err)
		}
		m := nextMessage(t, alice)
		if m.Type != protocol.MessageType_TOPIC_IDENTITY_FW || m.Role != protocol.Role_CLIENT ||
			m.FromAlias != bob.Alias() || string(m.Body) != "who" || len(m.Identity) != 0 {
			t.Fatalf("alice got %+v, want TOPIC_IDENTITY_FW from %d as CLIENT with empty identity", m, bob.Alias())
		}
	})

	t.Run("the sender does not get its own message", func(t *testing.T) {
		if err := alice.Publish("chat", []byte("mine"), true); err != nil {
			t.Fatalf("publish: %v", err)
		}
		if m := nextMessage(t, bob); string(m.Body) != "mine" {
			t.Fatalf("bob got %q, want mine", m.Body)
		}
		// A reliable ping echo is ordered after anything the server queued
		// to alice before it; if her own message had come back, it would
		// be waiting in Messages() now.
		if _, err := alice.Ping(testCtx(t), true); err != nil {
			t.Fatalf("ping: %v", err)
		}
		select {
		case m := <-alice.Messages():
			t.Fatalf("alice got %+v, want nothing", m)
		default:
		}
	})

	t.Run("metrics and health are served", func(t *testing.T) {
		base := "http://" + s.HTTPAddr().String()
		for path, want := range map[string]string{
			"/healthz":      "ok",
			"/readyz":       "ok",
			"/metrics":      `commserver_peers{role="CLIENT"} 2`,
			"/debug/pprof/": "goroutine",
		} {
			body := httpGet(t, base+path)
			if !strings.Contains(body, want) {
				t.Errorf("GET %s: %q does not contain %q", path, body, want)
			}
		}
	})
}

func TestSmokeDataBeforeAuthClosesOnlyThatPeer(t *testing.T) {
	coordURL := startCoordinator(t)
	startServer(t, coordURL, nil)
	good := dialClient(t, coordURL, nil)
	bad := dialClient(t, coordURL, func(c *client.Config) { c.SkipAuth = true })

	if err := bad.Publish("chat", []byte("sneaky"), true); err != nil {
		t.Fatalf("publish: %v", err)
	}
	m := nextMessage(t, bad)
	if m.Type != protocol.MessageType_ERROR || m.ErrorCode != protocol.ErrorCode_ERROR_AUTH_FAILED {
		t.Fatalf("got %+v, want ERROR{ERROR_AUTH_FAILED}", m)
	}
	select {
	case <-bad.Done():
	case <-time.After(smokeTimeout):
		t.Fatalf("the peer that skipped AUTH is still connected")
	}
	if _, err := good.Ping(testCtx(t), true); err != nil {
		t.Fatalf("the authenticated client stopped working: %v", err)
	}
}

func TestSmokeMaxPeersRefusesWithServerFull(t *testing.T) {
	coordURL := startCoordinator(t)
	startServer(t, coordURL, func(c *Config) { c.MaxPeers = 1 })
	dialClient(t, coordURL, nil)

	ctx, cancel := context.WithTimeout(context.Background(), smokeTimeout)
	defer cancel()
	cl, err := client.Dial(ctx, client.Config{CoordinatorURL: coordURL, WebRTC: rtcconfig.Config{LoopbackOnly: true}})
	if err == nil {
		_ = cl.Close()
		t.Fatalf("second client connected, want SERVER_FULL")
	}
	if !errors.Is(err, client.ErrServerFull) {
		t.Fatalf("second client: %v, want a SERVER_FULL refusal", err)
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return string(b)
}

func TestSmokeMeshRelaysAcrossServers(t *testing.T) {
	coordURL := startCoordinator(t)
	first := startServer(t, coordURL, nil)
	second := startServer(t, coordURL, nil)
	waitUntil(t, "the servers link", func() bool {
		return first.Stats().Servers == 1 && second.Stats().Servers == 1
	})
	alice := dialClient(t, coordURL, func(c *client.Config) { c.Server = first.Alias() })
	bob := dialClient(t, coordURL, func(c *client.Config) { c.Server = second.Alias() })
	if err := bob.Subscribe(testCtx(t), "news"); err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	// bob's subscription reaches the first server as an announcement; until
	// then a publish goes nowhere, so publish until one arrives.
	got := make(chan client.Message, 1)
	go func() {
		m, ok := <-bob.Messages()
		if ok {
			got <- m
		}
	}()
	deadline := time.After(smokeTimeout)
	for tick := time.NewTicker(20 * time.Millisecond); ; {
		if err := alice.Publish("news", []byte("across"), true); err != nil {
			t.Fatalf("publish: %v", err)
		}
		select {
		case m := <-got:
			if m.Type != protocol.MessageType_TOPIC_FW || string(m.Body) != "across" || m.FromAlias != alice.Alias() {
				t.Fatalf("bob got %+v, want TOPIC_FW news/across from %d", m, alice.Alias())
			}
			tick.Stop()
			return
		case <-tick.C:
		case <-deadline:
			t.Fatalf("bob never got alice's message through the mesh")
		}
	}
}

// TestSmokeShutdownLeavesNoGoroutines: once Run has returned (and the
// clients and the coordinator are gone), nothing the server started is
// still running.
func TestSmokeShutdownLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Run("a relay session", func(t *testing.T) {
		coordURL := startCoordinator(t)
		startServer(t, coordURL, nil)
		a := dialClient(t, coordURL, nil)
		b := dialClient(t, coordURL, nil)
		if err := b.Subscribe(testCtx(t), "t"); err != nil {
			t.Fatal(err)
		}
		if err := a.Publish("t", []byte("x"), false); err != nil {
			t.Fatal(err)
		}
		nextMessage(t, b)
	}) // its cleanups stop the clients, the server and the coordinator
	http.DefaultClient.CloseIdleConnections()

	testwait.ForReport(t, smokeTimeout, func() bool { return runtime.NumGoroutine() <= before }, func() string {
		var stacks strings.Builder
		_ = pprof.Lookup("goroutine").WriteTo(&stacks, 1)
		return fmt.Sprintf("for goroutines to end: %d left running, %d before:\n%s", runtime.NumGoroutine(), before, stacks.String())
	})
}
