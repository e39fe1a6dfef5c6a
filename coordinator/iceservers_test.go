package coordinator

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/webrtc-broker/webrtc-broker/core/auth"
	"github.com/webrtc-broker/webrtc-broker/core/rtcconfig"
	"github.com/webrtc-broker/webrtc-broker/core/turncred"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

const turnSecret = "turn-test-secret"

// dialServerTURN registers a server whose embedded TURN has urls, and
// returns once it is welcomed (and so offered to clients from then on).
func dialServerTURN(t *testing.T, tc *testCoordinator, urls string) *testPeer {
	t.Helper()
	u := tc.wsURL("/discover?role=COMMUNICATION_SERVER")
	h := discoverHeader(t, u)
	h.Set(turncred.Header, urls)
	conn, resp, err := websocket.DefaultDialer.Dial(u, h)
	if err != nil {
		t.Fatalf("dial %s: %v (%v)", u, err, resp)
	}
	p := &testPeer{t: t, conn: conn, msgs: make(chan []byte, 256), closed: make(chan error, 1)}
	go func() {
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				p.closed <- err
				close(p.msgs)
				return
			}
			p.msgs <- data
		}
	}()
	t.Cleanup(func() {
		_ = conn.Close()
		for range p.msgs {
		}
	})
	if w := p.welcome(); len(w.GetIceServers()) != 0 {
		t.Errorf("a server's WELCOME carries ice_servers %v; servers use their own", w.GetIceServers())
	}
	return p
}

// checkMinted fails unless s has urls and a credential that the secret
// validates, for a username naming name and expiring about ttl from now.
func checkMinted(t *testing.T, s *protocol.IceServer, urls []string, name string, ttl time.Duration) {
	t.Helper()
	if strings.Join(s.GetUrls(), ",") != strings.Join(urls, ",") {
		t.Errorf("urls %v, want %v", s.GetUrls(), urls)
	}
	if !strings.HasSuffix(s.GetUsername(), ":"+name) {
		t.Errorf("username %q, want expiry:%s", s.GetUsername(), name)
	}
	now := time.Now()
	if err := turncred.Valid(turnSecret, s.GetUsername(), s.GetCredential(), now, ttl+time.Minute); err != nil {
		t.Errorf("credential refused: %v", err)
	}
	if err := turncred.Valid(turnSecret, s.GetUsername(), s.GetCredential(), now.Add(ttl+time.Minute), 0); !errors.Is(err, turncred.ErrExpired) {
		t.Errorf("credential still valid after its ttl: %v", err)
	}
}

// TestWelcomeCarriesICEServers: over a real socket, a client's WELCOME
// lists the configured ice_servers as they are, then turn.urls and the
// offered server's embedded TURN with one credential minted for it.
func TestWelcomeCarriesICEServers(t *testing.T) {
	const ttl = 10 * time.Minute
	tc := startCoordinator(t, Config{
		ICEServers: []rtcconfig.ICEServer{{URLs: []string{"stun:127.0.0.1:3478"}}, {URLs: []string{"turn:127.0.0.1:3479"}, Username: "static", Credential: "pw"}},
		TURN:       TURNConfig{URLs: []string{"turn:127.0.0.1:3480?transport=udp"}, Secret: turnSecret, TTL: ttl},
	}, Options{}, nil)
	dialServerTURN(t, tc, "turn:127.0.0.1:3481, turns:127.0.0.1:5349?transport=tcp")

	c := dialClient(t, tc)
	w := c.welcome()
	ice := w.GetIceServers()
	if len(ice) != 4 {
		t.Fatalf("ice_servers %v, want 4", ice)
	}
	if ice[0].GetUrls()[0] != "stun:127.0.0.1:3478" || ice[0].GetUsername() != "" ||
		ice[1].GetUsername() != "static" || ice[1].GetCredential() != "pw" {
		t.Errorf("static entries changed: %v %v", ice[0], ice[1])
	}
	name := "alias-" + strconv.FormatUint(w.GetAlias(), 10)
	checkMinted(t, ice[2], []string{"turn:127.0.0.1:3480?transport=udp"}, name, ttl)
	checkMinted(t, ice[3], []string{"turn:127.0.0.1:3481", "turns:127.0.0.1:5349?transport=tcp"}, name, ttl)

	// Each client gets its own credential.
	w2 := dialClient(t, tc).welcome()
	if w2.GetIceServers()[2].GetUsername() == ice[2].GetUsername() {
		t.Errorf("two clients got the same username %q", ice[2].GetUsername())
	}
}

// TestTURNCredentialNamesTheIdentity: a printable identity names the
// credential, so a TURN server's log shows who relays.
func TestTURNCredentialNamesTheIdentity(t *testing.T) {
	fa := &fakeAuth{decide: func(_ context.Context, req auth.Request) (auth.Result, error) {
		return auth.Result{Allow: true, Identity: []byte("alice")}, nil
	}}
	tc := startCoordinator(t, Config{TURN: TURNConfig{URLs: []string{"turn:127.0.0.1:3480"}, Secret: turnSecret}}, Options{Auth: fa}, nil)
	ice := dialClient(t, tc).welcome().GetIceServers()
	if len(ice) != 1 {
		t.Fatalf("ice_servers %v, want 1", ice)
	}
	checkMinted(t, ice[0], []string{"turn:127.0.0.1:3480"}, "alice", time.Hour)
}

// TestServerTURNNeedsSecretAndValidURLs: a server's TURN list that is not
// TURN URLs, or that the coordinator has no secret for, is ignored, and
// the server is offered all the same.
func TestServerTURNNeedsSecretAndValidURLs(t *testing.T) {
	for _, tc := range []struct {
		name   string
		secret string
		header string
	}{
		{"not TURN URLs", turnSecret, "http://127.0.0.1:3478"},
		{"no secret on the coordinator", "", "turn:127.0.0.1:3478"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			co := startCoordinator(t, Config{TURN: TURNConfig{Secret: tc.secret}}, Options{}, nil)
			dialServerTURN(t, co, tc.header)
			w := dialClient(t, co).welcome()
			if len(w.GetAvailableServers()) != 1 || len(w.GetIceServers()) != 0 {
				t.Fatalf("servers %v, ice_servers %v: want the server and no ICE servers", w.GetAvailableServers(), w.GetIceServers())
			}
		})
	}
}

func TestICEConfigRejected(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"turn.urls without secret", Config{TURN: TURNConfig{URLs: []string{"turn:127.0.0.1"}}}, "turn.secret"},
		{"turn.urls not TURN", Config{TURN: TURNConfig{URLs: []string{"stun:127.0.0.1"}, Secret: "s"}}, "turn.urls"},
		{"negative ttl", Config{TURN: TURNConfig{Secret: "s", TTL: -time.Second}}, "turn.ttl"},
		{"ice_servers entry without urls", Config{ICEServers: []rtcconfig.ICEServer{{Username: "u", Credential: "c"}}}, "ice_servers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg, Options{Logger: testLogger(t)})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an error naming %s", err, tc.want)
			}
		})
	}
}

// TestServerTURNReportedLater: TURN URLs a server reports after it
// registered (LOAD_REPORT.ice_servers, through setServerTURN) reach the
// clients welcomed from then on.
func TestServerTURNReportedLater(t *testing.T) {
	tc := startCoordinator(t, Config{TURN: TURNConfig{Secret: turnSecret}}, Options{}, nil)
	srv := dialServer(t, tc)
	alias := srv.welcome().GetAlias()
	if ice := dialClient(t, tc).welcome().GetIceServers(); len(ice) != 0 {
		t.Fatalf("before the report: ice_servers %v", ice)
	}
	tc.dir.setServerTURN(alias, []string{"turn:127.0.0.1:3478"})
	w := dialClient(t, tc).welcome()
	if len(w.GetIceServers()) != 1 {
		t.Fatalf("after the report: ice_servers %v, want the server's TURN", w.GetIceServers())
	}
	checkMinted(t, w.GetIceServers()[0], []string{"turn:127.0.0.1:3478"}, "alias-"+strconv.FormatUint(w.GetAlias(), 10), time.Hour)
}
