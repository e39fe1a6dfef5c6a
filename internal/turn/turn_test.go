package turn

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pion/logging"
	pionturn "github.com/pion/turn/v2"

	"github.com/webrtc-broker/webrtc-broker/core/turncred"
)

const secret = "turn-unit-secret"

func start(t *testing.T, cfg Config, opts Options) *Server {
	t.Helper()
	cfg.Enabled = true
	if cfg.Secret == "" {
		cfg.Secret = secret
	}
	cfg.RelayIP, cfg.ListenUDP, cfg.Realm = "127.0.0.1", "127.0.0.1:0", "test"
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ctx, cancel := context.WithCancel(context.Background())
	s, err := Start(ctx, cfg, opts)
	if err != nil {
		cancel()
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { cancel(); s.Close() })
	return s
}

// allocate is a pion TURN client allocating a relay with the credential.
func allocate(t *testing.T, s *Server, user, pass string) (net.PacketConn, error) {
	t.Helper()
	addr := strings.TrimSuffix(strings.TrimPrefix(s.URLs()[0], "turn:"), "?transport=udp")
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c, err := pionturn.NewClient(&pionturn.ClientConfig{
		STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn, Username: user, Password: pass,
		Realm: "test", LoggerFactory: logging.NewDefaultLoggerFactory(), RTO: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); conn.Close() })
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	return c.Allocate()
}

func TestAllocateWithRESTCredentials(t *testing.T) {
	now := time.Now()
	fresh := func(s string) (string, string) { return turncred.Mint(s, "alias-1", now.Add(time.Hour)) }
	cases := []struct {
		name  string
		user  func() (string, string)
		ttl   time.Duration
		allow bool
	}{
		{"minted with the secret", func() (string, string) { return fresh(secret) }, 0, true},
		{"wrong secret", func() (string, string) { return fresh("other") }, 0, false},
		{"expiry passed", func() (string, string) { return turncred.Mint(secret, "alias-1", now.Add(-time.Second)) }, 0, false},
		{"over turn.ttl", func() (string, string) { return fresh(secret) }, 10 * time.Minute, false},
		{"not a REST username", func() (string, string) { return "alice", "pw" }, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, Config{TTL: tc.ttl}, Options{AllowLoopbackPeers: true})
			u, p := tc.user()
			relay, err := allocate(t, s, u, p)
			if tc.allow != (err == nil) {
				t.Fatalf("allocate: err %v, want allowed %v", err, tc.allow)
			}
			if err == nil {
				relay.Close()
			}
		})
	}
}

// TestRelaysToPeer: a datagram written to the relay reaches the peer from
// the relay address; loopback peers only where allowed.
func TestRelaysToPeer(t *testing.T) {
	for _, allow := range []bool{true, false} {
		t.Run(map[bool]string{true: "loopback allowed", false: "loopback refused"}[allow], func(t *testing.T) {
			s := start(t, Config{}, Options{AllowLoopbackPeers: allow})
			u, p := turncred.Mint(secret, "alias-1", time.Now().Add(time.Hour))
			relay, err := allocate(t, s, u, p)
			if err != nil {
				t.Fatal(err)
			}
			defer relay.Close()
			peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer peer.Close()
			_, werr := relay.WriteTo([]byte("hello"), peer.LocalAddr())
			if !allow {
				if werr == nil {
					t.Fatal("relay to a loopback peer was permitted")
				}
				return
			}
			if werr != nil {
				t.Fatal(werr)
			}
			_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 64)
			n, from, err := peer.ReadFrom(buf)
			if err != nil || string(buf[:n]) != "hello" {
				t.Fatalf("peer read %q, %v", buf[:n], err)
			}
			if from.String() != relay.LocalAddr().String() {
				t.Errorf("came from %s, want the relay address %s", from, relay.LocalAddr())
			}
		})
	}
}

func TestConfigRejected(t *testing.T) {
	ok := Config{Enabled: true, Secret: "s", RelayIP: "198.18.0.1", ListenUDP: ":3478"}
	cases := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no secret", func(c *Config) { c.Secret = "" }, "turn.secret"},
		{"no relay ip", func(c *Config) { c.RelayIP = "" }, "turn.relay_ip"},
		{"no listener", func(c *Config) { c.ListenUDP = Off }, "neither"},
		{"tls without cert", func(c *Config) { c.ListenTLS = ":443" }, "turn.cert"},
		{"half a port range", func(c *Config) { c.RelayPortMin = 50000 }, "relay_port"},
		{"inverted port range", func(c *Config) { c.RelayPortMin, c.RelayPortMax = 50010, 50000 }, "relay_port"},
		{"no port", func(c *Config) { c.ListenUDP = "198.18.0.1" }, "host:port"},
	}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("disabled config refused: %v", err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate: %v, want one naming %s", err, tc.want)
			}
		})
	}
}
