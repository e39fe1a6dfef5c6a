package commserver_test

import (
	"context"
	"errors"
	"net/url"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/commserver"
	"github.com/webrtc-broker/webrtc-broker/coordinator"
	"github.com/webrtc-broker/webrtc-broker/core/auth"
	"github.com/webrtc-broker/webrtc-broker/internal/testwait"
	"github.com/webrtc-broker/webrtc-broker/plugins"
	"github.com/webrtc-broker/webrtc-broker/plugins/token/tokens"
	"github.com/webrtc-broker/webrtc-broker/protocol"
	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

// End to end with real auth plugin processes: the coordinator and each
// server launch their own, as separate binaries would.

const e2eSecret = "e2e-token-secret-0123456789"

// buildPlugin builds a plugin main package into the test's temp dir.
func buildPlugin(t *testing.T, pkg string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), filepath.Base(pkg))
	if b, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// pluginAuth starts one plugin host, closed after the cluster has stopped
// (register it before cluster.Start: cleanups run last-in first-out).
func pluginAuth(t *testing.T, binary string, config map[string]any) auth.Authenticator {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cluster.ReadyTimeout)
	defer cancel()
	a, err := plugins.NewAuthenticator(ctx, auth.Config{Plugin: binary, Config: config, Timeout: 5 * time.Second},
		cluster.Logger("auth"), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

// tokenCluster is a two-server mesh where every component authenticates
// with the token plugin. The mesh forming at all proves that servers'
// self-minted tokens pass the coordinator's /discover and each other's AUTH.
func tokenCluster(t *testing.T) *cluster.Cluster {
	t.Helper()
	bin := buildPlugin(t, "github.com/webrtc-broker/webrtc-broker/plugins/token")
	cfg := map[string]any{"secret": e2eSecret, "ttl": "1m"}
	coordAuth := pluginAuth(t, bin, cfg)
	serverAuth := []auth.Authenticator{pluginAuth(t, bin, cfg), pluginAuth(t, bin, cfg)}
	return cluster.Start(t, cluster.Options{
		Servers:            2,
		CoordinatorOptions: func(o *coordinator.Options) { o.Auth = coordAuth },
		ServerOptions:      func(i int, o *commserver.Options) { o.Auth = serverAuth[i] },
	})
}

func mintFor(t *testing.T, identity string, ttl time.Duration) string {
	t.Helper()
	tok, err := tokens.Mint([]byte(e2eSecret), tokens.Claims{Identity: identity, Role: protocol.Role_CLIENT, Expiry: time.Now().Add(ttl)})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// withToken presents tok to the coordinator (query) and the server (AUTH).
func withToken(tok string) func(*client.Config) {
	return func(c *client.Config) {
		c.Query = url.Values{"token": {tok}}
		c.AuthBody = []byte(tok)
	}
}

func TestE2ETokenPluginIdentityReachesReceivers(t *testing.T) {
	cl := tokenCluster(t)
	alice := cl.Client(t, cl.On(0), withToken(mintFor(t, "alice", time.Hour)))
	local := cl.Client(t, cl.On(0), withToken(mintFor(t, "carol", time.Hour)))
	remote := cl.Client(t, cl.On(1), withToken(mintFor(t, "bob", time.Hour)))
	subscribe(t, local, "news")
	subscribe(t, remote, "news")
	reach(t, alice, remote, "news", client.Reliable) // the subscription has crossed the mesh

	if err := alice.PublishIdentity("news", []byte("signed"), client.Reliable); err != nil {
		t.Fatal(err)
	}
	for _, rx := range []*client.Client{local, remote} {
		m := receive(t, rx, "news", "signed")
		if !isIdentityMessage(m) || string(m.Identity) != "alice" || m.Role != protocol.Role_CLIENT {
			t.Fatalf("client %d got identity %q role %s, want an identity message from alice, CLIENT",
				rx.Alias(), m.Identity, m.Role)
		}
		expectFrom(t, m, alice)
	}
}

func TestE2ETokenPluginDenies(t *testing.T) {
	cl := tokenCluster(t)
	good := mintFor(t, "alice", time.Hour)
	forged, err := tokens.Mint([]byte("not-the-cluster-secret!"), tokens.Claims{Identity: "alice", Role: protocol.Role_CLIENT, Expiry: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	serverTok, err := tokens.Mint([]byte(e2eSecret), tokens.Claims{Identity: "fake-server", Role: protocol.Role_COMMUNICATION_SERVER, Expiry: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("the coordinator refuses", func(t *testing.T) {
		tests := []struct {
			name string
			mod  func(*client.Config)
		}{
			{"no token", func(*client.Config) {}},
			{"an expired token", withToken(mintFor(t, "alice", -time.Second))},
			{"a token signed with another secret", withToken(forged)},
			{"a server's token", withToken(serverTok)},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if _, err := cl.Dial(t, cl.On(0), tt.mod); !errors.Is(err, client.ErrAuthFailed) {
					t.Fatalf("dial: %v, want ErrAuthFailed", err)
				}
			})
		}
	})
	t.Run("the server refuses a bad AUTH body", func(t *testing.T) {
		for _, body := range []string{"", "garbage", forged} {
			bad := cl.Client(t, cl.On(1), func(c *client.Config) {
				c.Query = url.Values{"token": {good}} // the coordinator lets it through
				c.AuthBody = []byte(body)
			})
			if err := waitDown(t, bad, "a bad AUTH body"); !errors.Is(err, client.ErrAuthFailed) {
				t.Fatalf("AUTH body %q: client error %v, want ErrAuthFailed", body, err)
			}
		}
	})
	// The accepted client still works next to the refused ones.
	a := cl.Client(t, cl.On(1), withToken(good))
	b := cl.Client(t, cl.On(1), withToken(mintFor(t, "bob", time.Hour)))
	subscribe(t, b, "after")
	publish(t, a, "after", "still fine", client.Reliable)
	receive(t, b, "after", "still fine")
	if n := cl.Server(1).Stats().Clients; n != 2 {
		t.Fatalf("server 1 counts %d clients, want 2: refused peers never count", n)
	}
}

// A server whose plugin is killed keeps running and keeps its peers; it
// restarts the plugin and authenticates new clients again.
func TestE2EServerSurvivesItsPluginDying(t *testing.T) {
	bin := buildPlugin(t, "github.com/webrtc-broker/webrtc-broker/plugins/internal/testplugins/scripted")
	serverAuth := pluginAuth(t, bin, nil)
	cl := cluster.Start(t, cluster.Options{ServerOptions: func(_ int, o *commserver.Options) { o.Auth = serverAuth }})

	// The scripted plugin's identity is its pid.
	a := cl.Client(t)
	b := cl.Client(t)
	subscribe(t, b, "who")
	if err := a.PublishIdentity("who", []byte("before"), client.Reliable); err != nil {
		t.Fatal(err)
	}
	m := receive(t, b, "who", "before")
	pid, err := strconv.Atoi(strings.TrimPrefix(string(m.Identity), "pid:"))
	if err != nil {
		t.Fatalf("identity %q: %v", m.Identity, err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}

	// Authenticated peers are unaffected.
	publish(t, a, "who", "during", client.Reliable)
	receive(t, b, "who", "during")

	// New clients get in again once the plugin is back, as a new process.
	// Dial returns once AUTH is written; a PING answered proves it passed
	// (nothing is answered before), while a client denied meanwhile goes down.
	var c *client.Client
	testwait.For(t, cluster.ReadyTimeout, "a new client authenticated by the restarted plugin", func() bool {
		if c, err = cl.Dial(t); err != nil {
			return false
		}
		if _, err = c.Ping(eventCtx(t), client.Reliable); err != nil {
			_ = c.Close()
			return false
		}
		return true
	})
	if err := c.PublishIdentity("who", []byte("after"), client.Reliable); err != nil {
		t.Fatal(err)
	}
	if m := receive(t, b, "who", "after"); string(m.Identity) == "pid:"+strconv.Itoa(pid) || !strings.HasPrefix(string(m.Identity), "pid:") {
		t.Fatalf("identity after the restart %q, want a new pid (the old one was %d)", m.Identity, pid)
	}
}
