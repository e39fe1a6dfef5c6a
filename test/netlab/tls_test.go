package netlab

import (
	"fmt"
	"strings"
	"syscall"
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

// TestLabTLSCertificateRotation: a new certificate for the coordinator and
// SIGHUP, with servers and clients connected across the lab: the servers'
// wss:// sessions stay up (no reconnect), a client that dials afterwards
// is served with the new certificate, and messages flow between them all.
func TestLabTLSCertificateRotation(t *testing.T) {
	lab := New(t)
	b := startBrokerSpec(t, lab, brokerSpec{servers: 2, tls: true, serverSets: []string{"webrtc.loopback_only=false"}})
	s1, s2 := b.servers[0], b.servers[1]
	a := b.startClient(t, lab.Host("c1"), "a", s1)
	c := b.startClient(t, lab.Host("c2"), "c", s2)
	complete(t, exchange(t, "before", 50, 50, true, reliableIdle, []*labClient{a, c}, []*labClient{a, c}))

	coordMark := b.coord.Len()
	marks := []int{s1.proc.Len(), s2.proc.Len()}
	next := b.cert.CA.Leaf(t, "coord-next", b.coordHost.IP().String())
	next.InstallAt(t, b.cert.CertFile, b.cert.KeyFile)
	if err := syscall.Kill(b.coord.Pid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	line, _ := b.coord.WaitLine(t, coordMark, startTimeout, "TLS certificate reloaded")
	if want := fmt.Sprintf(`"serial":"%s"`, next.Cert.SerialNumber); !strings.Contains(line, want) {
		t.Fatalf("reload line %s: want the new certificate's %s", line, want)
	}

	late := b.startClient(t, lab.Host("c1"), "late", s2) // a TLS handshake after the reload
	all := []*labClient{a, c, late}
	complete(t, exchange(t, "after", 50, 50, true, reliableIdle, all, all))
	for i, s := range b.servers {
		for _, l := range s.proc.linesFrom(marks[i]) {
			if ll, ok := parseLog(l); ok && strings.HasPrefix(ll.Msg, "coordinator link down") {
				t.Errorf("%s: its coordinator link went down during the rotation: %s", s.host.Name(), l)
			}
		}
	}
	for _, cl := range all {
		cl.noDisconnect(t)
	}
}
