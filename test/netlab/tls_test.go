package netlab

import (
	"fmt"
	"testing"
	"time"
)

// TestLabTLSMatrix is issue 10's TLS lab test: the coordinator on wss://
// with a certificate made in the test for its lab address, two servers on
// two more hosts registered through coordinator_ca, and clients on two
// further hosts (trusting the same CA), webrtc.loopback_only off
// everywhere. Every message of the exchange matrix arrives: one server and
// across the mesh, reliable and unreliable, plain and with identity.
func TestLabTLSMatrix(t *testing.T) {
	lab := New(t)
	b := startBrokerSpec(t, lab, brokerSpec{servers: 2, tls: true, serverSets: []string{"webrtc.loopback_only=false"}})
	b.coord.WaitLine(t, 0, startTimeout, `"tls":true`)
	s1, s2 := b.servers[0], b.servers[1]
	h1, h2 := lab.Host("c1"), lab.Host("c2")
	a1 := b.startClient(t, h1, "a1", s1)
	a2 := b.startClient(t, h2, "a2", s1)
	b1 := b.startClient(t, h1, "b1", s2)
	b2 := b.startClient(t, h2, "b2", s2)
	for _, c := range []struct {
		c   *labClient
		srv *server
	}{{a1, s1}, {a2, s1}, {b1, s2}, {b2, s2}} {
		if c.c.server != c.srv.alias {
			t.Fatalf("%s on server %d, want %d (%s)", c.c.name, c.c.server, c.srv.alias, c.srv.host.Name())
		}
	}

	groups := []struct {
		name    string
		clients []*labClient
	}{
		{"single", []*labClient{a1, a2}},       // both on s1, from two hosts
		{"mesh", []*labClient{a1, a2, b1, b2}}, // across s1 and s2
	}
	const n, rate = 100, 50
	for _, g := range groups {
		for _, reliable := range []bool{true, false} {
			for _, identity := range []bool{false, true} {
				run := fmt.Sprintf("%s-%s-id%t", g.name, kind(reliable), identity)
				idle := 3 * time.Second
				if reliable {
					idle = reliableIdle
				}
				reports := exchangeAs(t, run, n, rate, reliable, identity, idle, g.clients, g.clients)
				if reliable {
					complete(t, reports) // all, once, in order
				}
				for _, r := range reports {
					if r.Recv != r.Want || r.Dup != 0 {
						t.Errorf("%s: %s from %s: received %d of %d, %d duplicates", run, r.To, r.Src, r.Recv, r.Want, r.Dup)
					}
					want := 0
					if identity {
						want = r.Recv
					}
					if r.Identified != want {
						t.Errorf("%s: %s from %s: %d of %d messages carried the sender's role, want %d",
							run, r.To, r.Src, r.Identified, r.Recv, want)
					}
				}
			}
		}
	}
	for _, c := range []*labClient{a1, a2, b1, b2} {
		c.noDisconnect(t)
	}
}
