package coordinator

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/core/auth"
	"github.com/webrtc-broker/webrtc-broker/internal/testwait"
)

// TestAffinityKeepsARoomOnOneServer: every client of a room is offered its
// room's server first; another room is placed least-loaded, so on another
// server once the first has load; a room whose server leaves is placed
// afresh.
func TestAffinityKeepsARoomOnOneServer(t *testing.T) {
	tc := startCoordinator(t, Config{Selector: selectorAffinity}, Options{}, nil)
	servers := []*testPeer{dialServer(t, tc), dialServer(t, tc), dialServer(t, tc)}
	aliases := map[uint64]*testPeer{}
	for _, s := range servers {
		aliases[s.welcome().GetAlias()] = s
	}
	live := 3
	// join dials a client of room, checks it is offered every server, and
	// sends a CONNECT to the first, as an SDK does (least-loaded counts it).
	join := func(room string) (*testPeer, uint64) {
		t.Helper()
		c := dialPeer(t, tc.wsURL("/connect?room="+room))
		w := c.welcome()
		if len(w.GetAvailableServers()) != live {
			t.Fatalf("client of %q offered %v, want all %d servers", room, w.GetAvailableServers(), live)
		}
		first := w.GetAvailableServers()[0]
		expectRelay(t, c, w.GetAlias(), aliases[first], first)
		return c, first
	}
	_, home := join("lobby")
	for range 19 {
		if _, got := join("lobby"); got != home {
			t.Fatalf("a lobby client was offered %d first, want the lobby's server %d", got, home)
		}
	}
	_, other := join("kitchen")
	if other == home {
		t.Fatalf("the kitchen went to the lobby's server %d, which has 20 clients and the others none", home)
	}

	// The kitchen's server leaves: the kitchen is placed afresh, the lobby
	// stays where it is.
	_ = aliases[other].conn.Close()
	testwait.For(t, 10*time.Second, "the coordinator to see the kitchen's server go", func() bool {
		return tc.serverCount() == 2
	})
	live = 2
	if got := dialPeer(t, tc.wsURL("/connect?room=kitchen")).welcome().GetAvailableServers()[0]; got == other || got == home {
		t.Fatalf("the kitchen placed afresh on %d, want the third server (not the gone %d nor the loaded %d)", got, other, home)
	}
	if _, got := join("lobby"); got != home {
		t.Fatalf("a lobby client offered %d first after another server left, want %d", got, home)
	}
}

func TestConnectRefusesABadRoom(t *testing.T) {
	tc := startCoordinator(t, Config{Selector: selectorAffinity}, Options{}, nil)
	for _, room := range []string{strings.Repeat("r", maxRoomLen+1), "%ff%fe"} {
		if got := dialStatus(t, tc.wsURL("/connect?room="+room)); got != http.StatusBadRequest {
			t.Errorf("room %.20q: HTTP %d, want 400", room, got)
		}
	}
}

// roomAuth admits everyone and puts a client whose query has team=NAME in
// room "team-NAME", as an auth plugin that knows its users' rooms would.
type roomAuth struct{ auth.AllowAll }

func (roomAuth) Authenticate(_ context.Context, r auth.Request) (auth.Result, error) {
	res := auth.Result{Allow: true, Identity: []byte{}}
	if r.HTTP != nil {
		if u, err := url.Parse(r.HTTP.URL); err == nil && u.Query().Get("team") != "" {
			res.Room = "team-" + u.Query().Get("team")
		}
	}
	return res, nil
}

// TestAffinityTakesTheAuthenticatorsRoom: a room the authenticator names
// wins over the one the client asks for.
func TestAffinityTakesTheAuthenticatorsRoom(t *testing.T) {
	tc := startCoordinator(t, Config{Selector: selectorAffinity}, Options{Auth: roomAuth{}}, nil)
	servers := map[uint64]*testPeer{}
	for range 3 {
		s := dialServer(t, tc)
		servers[s.welcome().GetAlias()] = s
	}
	first := func(path string) uint64 {
		t.Helper()
		c := dialPeer(t, tc.wsURL(path))
		w := c.welcome()
		home := w.GetAvailableServers()[0]
		expectRelay(t, c, w.GetAlias(), servers[home], home) // counts as load
		return home
	}
	red := first("/connect?team=red")
	if got := first("/connect?team=red&room=elsewhere"); got != red {
		t.Fatalf("a red client asking for room elsewhere was offered %d first, want the red room's %d", got, red)
	}
	if got := first("/connect?room=elsewhere"); got == red {
		t.Fatalf("room elsewhere was placed on the loaded red server %d", red)
	}
}
