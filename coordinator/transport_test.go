package coordinator

import (
	"net/http"
	"slices"
	"testing"
)

// TestNATSServersAreOfferedNoLinks: a server registered with
// transport=nats makes no server links, so its WELCOME lists no servers and
// no mesh server's WELCOME lists it; clients are offered every server.
func TestNATSServersAreOfferedNoLinks(t *testing.T) {
	tc := startCoordinator(t, Config{Selector: selectorLeastLoaded}, Options{}, nil)
	natsURL := tc.wsURL("/discover?role=COMMUNICATION_SERVER&transport=nats")

	mesh1 := dialServer(t, tc).welcome()
	nats1 := dialPeer(t, natsURL).welcome()
	if got := nats1.GetAvailableServers(); len(got) != 0 {
		t.Fatalf("a NATS server was offered servers to link with: %v", got)
	}
	mesh2 := dialPeer(t, tc.wsURL("/discover?role=COMMUNICATION_SERVER&transport=mesh")).welcome()
	if got := mesh2.GetAvailableServers(); !slices.Equal(got, []uint64{mesh1.GetAlias()}) {
		t.Fatalf("mesh server offered %v, want only the other mesh server %d (not the NATS server %d)",
			got, mesh1.GetAlias(), nats1.GetAlias())
	}
	nats2 := dialPeer(t, natsURL).welcome()
	if got := nats2.GetAvailableServers(); len(got) != 0 {
		t.Fatalf("the second NATS server was offered servers: %v", got)
	}
	client := dialClient(t, tc).welcome()
	got := slices.Sorted(slices.Values(client.GetAvailableServers()))
	want := slices.Sorted(slices.Values([]uint64{mesh1.GetAlias(), nats1.GetAlias(), mesh2.GetAlias(), nats2.GetAlias()}))
	if !slices.Equal(got, want) {
		t.Fatalf("client offered %v, want every server %v", got, want)
	}
}

func TestDiscoverRefusesABadTransport(t *testing.T) {
	tc := startCoordinator(t, Config{}, Options{}, nil)
	for _, path := range []string{
		"/discover?role=COMMUNICATION_SERVER&transport=carrier-pigeon",
		// A hub is the centre of a star of links, which NATS has not.
		"/discover?role=COMMUNICATION_SERVER_HUB&transport=nats",
	} {
		if got := dialStatus(t, tc.wsURL(path)); got != http.StatusBadRequest {
			t.Errorf("%s: HTTP %d, want %d", path, got, http.StatusBadRequest)
		}
	}
}
