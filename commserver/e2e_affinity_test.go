package commserver_test

import (
	"net/url"
	"testing"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/commserver"
	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

// TestE2EAffinityPutsARoomOnOneServer: with selector affinity, 20 real
// clients naming one room (/connect?room=) all land on one of three
// servers, and a client of another room lands on another server (the
// least loaded).
func TestE2EAffinityPutsARoomOnOneServer(t *testing.T) {
	cl := cluster.Start(t, cluster.Options{Servers: 3, Selector: "affinity", Transport: commserver.TransportNATS})
	inRoom := func(room string) func(*client.Config) {
		return func(c *client.Config) { c.Query = url.Values{"room": {room}} }
	}
	var home uint64
	for i := range 20 {
		c := cl.Client(t, inRoom("lobby"))
		if i == 0 {
			home = c.ServerAlias()
		}
		if c.ServerAlias() != home {
			t.Fatalf("lobby client %d is on server %d, want the lobby's server %d", i, c.ServerAlias(), home)
		}
	}
	other := cl.Client(t, inRoom("kitchen"))
	if other.ServerAlias() == home {
		t.Fatalf("the kitchen's first client joined the lobby's server %d, which has 20 clients and the others none", home)
	}
}
