package coordinator

import (
	"slices"
	"testing"

	"github.com/webrtc-broker/webrtc-broker/internal/testwait"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

func TestNewRejectsAnUnknownSelector(t *testing.T) {
	for _, name := range []string{"round-robin", "Random", "hub"} {
		if _, err := New(Config{Selector: name}, Options{}); err == nil {
			t.Errorf("selector %q accepted", name)
		}
	}
	for _, name := range []string{"", selectorRandom, selectorLeastLoaded, selectorStar} {
		if _, err := New(Config{Selector: name}, Options{}); err != nil {
			t.Errorf("selector %q: %v", name, err)
		}
	}
}

// sorted returns a sorted copy, to compare offers whose order is random.
func sorted(s []uint64) []uint64 { return slices.Sorted(slices.Values(s)) }

func TestRandomSelectorOffersEveryServerShuffled(t *testing.T) {
	tc := startCoordinator(t, Config{Selector: selectorRandom}, Options{}, nil)
	var servers []uint64
	for i := range 4 {
		w := dialServer(t, tc).welcome()
		// Sorted both: aliases are random, not in registration order.
		if got := sorted(w.GetAvailableServers()); !slices.Equal(got, sorted(servers)) {
			t.Fatalf("server %d offered %v, want every other server %v", i, got, servers)
		}
		servers = append(servers, w.GetAlias())
	}

	orders := map[string]bool{}
	for range 20 {
		offer := dialClient(t, tc).welcome().GetAvailableServers()
		if got := sorted(offer); !slices.Equal(got, sorted(servers)) {
			t.Fatalf("client offered %v, want all servers %v", got, servers)
		}
		orders[string(orderKey(offer))] = true
	}
	// 20 draws of one order out of 24 by chance: about 1 in 10^26.
	if len(orders) == 1 {
		t.Fatal("20 clients were offered the servers in the same order: not shuffled")
	}
}

// orderKey is a map key for the order of a list of aliases.
func orderKey(a []uint64) []byte {
	var b []byte
	for _, v := range a {
		b = append(b, byte(v), byte(v>>8))
	}
	return b
}

func TestLeastLoadedSelectorOrdersByClientsSignaled(t *testing.T) {
	tc := startCoordinator(t, Config{Selector: selectorLeastLoaded}, Options{}, nil)
	s := make([]*testPeer, 3)
	a := make([]uint64, 3)
	for i := range s {
		s[i] = dialServer(t, tc)
		a[i] = s[i].welcome().GetAlias()
	}
	if got := dialClient(t, tc).welcome().GetAvailableServers(); !slices.Equal(got, a) {
		t.Fatalf("with no load: offered %v, want alias order %v", got, a)
	}

	// Load: s0 gets two distinct clients (one of them twice), s2 one, s1 none.
	alice, bob := dialClient(t, tc), dialClient(t, tc)
	aliceAlias, bobAlias := alice.welcome().GetAlias(), bob.welcome().GetAlias()
	for _, c := range []struct {
		from   *testPeer
		alias  uint64
		server int
	}{
		{alice, aliceAlias, 0}, {alice, aliceAlias, 0}, {bob, bobAlias, 0}, {alice, aliceAlias, 2},
	} {
		expectRelay(t, c.from, c.alias, s[c.server], a[c.server])
	}

	want := []uint64{a[1], a[2], a[0]}
	if got := dialClient(t, tc).welcome().GetAvailableServers(); !slices.Equal(got, want) {
		t.Fatalf("client offered %v, want least loaded first %v", got, want)
	}
	if got := dialServer(t, tc).welcome().GetAvailableServers(); !slices.Equal(got, want) {
		t.Fatalf("server offered %v, want least loaded first %v", got, want)
	}
}

func TestStarSelector(t *testing.T) {
	cases := []struct {
		name string
		// order of registration: 's' a server, 'h' the hub
		order string
	}{
		{"hub first", "hss"},
		{"servers first", "ssh"},
		{"hub between servers", "shs"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tc := startCoordinator(t, Config{Selector: selectorStar}, Options{}, nil)
			var hub uint64
			var servers []uint64
			for _, kind := range c.order {
				if kind == 'h' {
					w := dialHub(t, tc).welcome()
					if got := sorted(w.GetAvailableServers()); !slices.Equal(got, sorted(servers)) {
						t.Fatalf("hub offered %v, want every server registered before it %v", got, servers)
					}
					hub = w.GetAlias()
					continue
				}
				w := dialServer(t, tc).welcome()
				var want []uint64
				if hub != 0 {
					want = []uint64{hub}
				}
				if got := w.GetAvailableServers(); !slices.Equal(got, want) {
					t.Fatalf("server offered %v, want only the hub %v", got, want)
				}
				servers = append(servers, w.GetAlias())
			}
			// Sorted both: aliases are random, not in registration order.
			if got := sorted(dialClient(t, tc).welcome().GetAvailableServers()); !slices.Equal(got, sorted(servers)) {
				t.Fatalf("client offered %v, want the non-hub servers %v", got, servers)
			}
		})
	}
}

func TestStarRefusesASecondHubUntilTheFirstLeaves(t *testing.T) {
	tc := startCoordinator(t, Config{Selector: selectorStar}, Options{}, nil)
	hubURL := tc.wsURL("/discover?role=COMMUNICATION_SERVER_HUB")
	first := dialHub(t, tc)
	first.welcome()

	if got := dialStatus(t, hubURL); got != 409 {
		t.Fatalf("second hub: HTTP %d, want 409", got)
	}
	_ = first.conn.Close()
	testwait.For(t, waitTimeout, "the first hub to leave", func() bool { return tc.serverCount() == 0 })
	dialHub(t, tc).welcome()
}

func TestSelectorsOfferTheRightServers(t *testing.T) {
	servers := []server{{alias: 10, load: 5}, {alias: 11, hub: true, load: 0}, {alias: 12, load: 1}, {alias: 13, load: 1}}
	client, srv, hub := protocol.Role_CLIENT, protocol.Role_COMMUNICATION_SERVER, protocol.Role_COMMUNICATION_SERVER_HUB
	cases := []struct {
		selector string
		role     protocol.Role
		want     []uint64
		ordered  bool // false: compare as sets
	}{
		{selectorRandom, client, []uint64{10, 11, 12, 13}, false},
		{selectorRandom, srv, []uint64{10, 11, 12, 13}, false},
		{selectorLeastLoaded, client, []uint64{11, 12, 13, 10}, true},
		{selectorLeastLoaded, srv, []uint64{11, 12, 13, 10}, true},
		{selectorStar, client, []uint64{10, 12, 13}, false},
		{selectorStar, srv, []uint64{11}, true},
		{selectorStar, hub, []uint64{10, 12, 13}, true},
	}
	for _, c := range cases {
		t.Run(c.selector+"/"+c.role.String(), func(t *testing.T) {
			sel, err := newSelector(c.selector)
			if err != nil {
				t.Fatal(err)
			}
			got := sel.offer(c.role, slices.Clone(servers))
			if !c.ordered {
				got = sorted(got)
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("offer = %v, want %v", got, c.want)
			}
		})
	}
}
