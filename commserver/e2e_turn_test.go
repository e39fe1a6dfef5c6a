package commserver_test

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/commserver"
	"github.com/webrtc-broker/webrtc-broker/coordinator"
	"github.com/webrtc-broker/webrtc-broker/core/rtcconfig"
	"github.com/webrtc-broker/webrtc-broker/internal/turn"
	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

// recordHandler keeps the attributes of every log record with a message.
type recordHandler struct {
	msg   string
	attrs []slog.Attr
	mu    *sync.Mutex
	got   *[]map[string]string
}

func (h recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h recordHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message != h.msg {
		return nil
	}
	m := map[string]string{}
	for _, a := range h.attrs {
		m[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.String(); return true })
	h.mu.Lock()
	*h.got = append(*h.got, m)
	h.mu.Unlock()
	return nil
}
func (h recordHandler) WithAttrs(as []slog.Attr) slog.Handler {
	h.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return h
}
func (h recordHandler) WithGroup(string) slog.Handler { return h }

// TestEmbeddedTURNFromWelcome: a client with webrtc.relay_only can reach
// the server only through the relay of the server's embedded TURN, whose URL and credentials come from the
// coordinator's WELCOME. That it connects and exchanges messages on both
// channels proves the whole path: the server lists its TURN at
// registration, the coordinator mints for the client, the Go SDK uses the
// WELCOME's ICE servers, the TURN server checks the REST credential and
// relays.
func TestEmbeddedTURNFromWelcome(t *testing.T) {
	const secret = "e2e-turn-secret"
	// Relays are allocated in this range, so the server can tell them in
	// its log: on loopback every address is 127.0.0.1.
	const relayMin, relayMax = 47000, 47999
	var mu sync.Mutex
	var pairs []map[string]string
	c := cluster.Start(t, cluster.Options{
		Coordinator: func(cfg *coordinator.Config) { cfg.TURN.Secret = secret },
		Server: func(_ int, cfg *commserver.Config) {
			cfg.TURN = turn.Config{Enabled: true, ListenUDP: "127.0.0.1:0", RelayIP: "127.0.0.1", Secret: secret,
				RelayPortMin: relayMin, RelayPortMax: relayMax}
		},
		ServerOptions: func(_ int, o *commserver.Options) {
			o.Logger = slog.New(recordHandler{msg: "ICE candidate pair selected", mu: &mu, got: &pairs})
		},
	})
	if got := c.Server(0).TURNServers(); len(got) != 1 || len(got[0].GetUrls()) != 1 {
		t.Fatalf("TURNServers() = %v, want the one UDP URL", got)
	}
	relayed := func(cfg *client.Config) {
		cfg.WebRTC = rtcconfig.Config{Networks: []string{"127.0.0.0/8"}, RelayOnly: true}
	}
	a := c.Client(t, relayed)
	b := c.Client(t)
	subscribe(t, a, "turn")
	subscribe(t, b, "turn")
	reach(t, b, a, "turn", client.Reliable)
	reach(t, a, b, "turn", client.Reliable)
	reach(t, a, b, "turn", client.Unreliable)

	mu.Lock()
	defer mu.Unlock()
	found := false
	for _, p := range pairs {
		t.Logf("selected pair: %v", p)
		if p["peer"] == strconv.FormatUint(a.Alias(), 10) {
			found = true
			// The relay's checks often arrive before its candidate is
			// signaled: then it is peer-reflexive, from a relay port.
			_, port, _ := net.SplitHostPort(strings.TrimSuffix(p["remote"], "/udp"))
			n, _ := strconv.Atoi(port)
			if p["remote_type"] != "relay" && (p["remote_type"] != "prflx" || n < relayMin || n > relayMax) {
				t.Errorf("relayed client's pair: remote %s %s, want a relay (port %d-%d)", p["remote_type"], p["remote"], relayMin, relayMax)
			}
		}
	}
	if !found {
		t.Errorf("no selected candidate pair logged for the relayed client %d", a.Alias())
	}
}
