package commserver_test

import (
	"testing"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/commserver"
	"github.com/webrtc-broker/webrtc-broker/internal/testwait"
	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

// Several coordinators (coordmulti.go, coordinator/alias.go): every server
// is registered at both under one alias, clients of either reach either
// server, and one coordinator's death is nobody's business but its own.

// TestTwoCoordinatorsOneKilled: two coordinators, two servers linked to
// both; clients joined through each talk across servers; coordinator 0 is
// killed and every live peer goes on, both ways, while a new client joins
// through coordinator 1 and talks to the old ones. Aliases are unique across
// both coordinators and each names its coordinator's partition.
func TestTwoCoordinatorsOneKilled(t *testing.T) {
	cl := cluster.Start(t, cluster.Options{Servers: 2, Coordinators: 2})
	for i := range 2 {
		if st := cl.Server(i).Stats(); st.Coordinators != 2 || st.Servers != 1 {
			t.Fatalf("server %d: registered at %d coordinators with %d server links, want 2 and 1", i, st.Coordinators, st.Servers)
		}
	}
	// a joins through coordinator 0 to server 0, b through coordinator 1 to
	// server 1; c through coordinator 1 to server 0: each coordinator
	// signals clients to a server over that server's link to it, so a
	// WELCOME from either lists both.
	a := cl.Client(t, cl.Via(0), cl.On(0))
	b := cl.Client(t, cl.Via(1), cl.On(1))
	c := cl.Client(t, cl.Via(1), cl.On(0))
	for i, x := range []*client.Client{a, b, c} {
		want := []int{0, 1, 0}[i]
		if got := x.ServerAlias(); got != cl.Server(want).Stats().Alias {
			t.Fatalf("client %d is on server %d, want server %d (%d)", i, got, want, cl.Server(want).Stats().Alias)
		}
	}
	// coordinator.id 0 and 1 of 2: the low bit is the coordinator's.
	for _, p := range []struct {
		name  string
		alias uint64
		coord uint64
	}{{"a", a.Alias(), 0}, {"b", b.Alias(), 1}, {"c", c.Alias(), 1}} {
		if p.alias&1 != p.coord {
			t.Errorf("client %s alias %d is not in coordinator %d's partition", p.name, p.alias, p.coord)
		}
	}

	for _, x := range []*client.Client{a, b, c} {
		subscribe(t, x, "coords")
	}
	exchange := func(t *testing.T, clients ...*client.Client) {
		t.Helper()
		for _, from := range clients {
			for _, to := range clients {
				if from != to {
					reach(t, from, to, "coords", client.Reliable)
				}
			}
		}
		publish(t, a, "coords", "from a", client.Reliable)
		expectFrom(t, receive(t, b, "coords", "from a"), a)
		publish(t, b, "coords", "from b", client.Reliable)
		expectFrom(t, receive(t, a, "coords", "from b"), b)
		expectFrom(t, receive(t, c, "coords", "from b"), b)
	}
	exchange(t, a, b, c)

	cl.StopCoordinatorAt(t, 0)
	cl.WaitReady(t) // every server registered at the one left, links as before
	for i := range 2 {
		st := cl.Server(i).Stats()
		if st.Coordinators != 1 || st.Servers != 1 || st.Clients != []int{2, 1}[i] {
			t.Fatalf("server %d after coordinator 0 died: %d coordinators, %d server links, %d clients; want 1, 1, %d",
				i, st.Coordinators, st.Servers, st.Clients, []int{2, 1}[i])
		}
	}
	for i, x := range []*client.Client{a, b, c} {
		select {
		case <-x.Done():
			t.Fatalf("client %d went down with coordinator 0: %v", i, x.Err())
		default:
		}
	}
	// a joined through the dead coordinator: its data channels do not care.
	exchange(t, a, b, c)

	// A new client gets through the coordinator left, to either server.
	d := cl.Client(t, cl.Via(1), cl.On(0))
	e := cl.Client(t, cl.Via(1), cl.On(1))
	subscribe(t, d, "coords")
	subscribe(t, e, "coords")
	reach(t, d, a, "coords", client.Reliable)
	reach(t, d, b, "coords", client.Reliable)
	reach(t, a, d, "coords", client.Reliable)
	reach(t, b, e, "coords", client.Reliable)
	publish(t, d, "coords", "from d", client.Reliable)
	expectFrom(t, receive(t, a, "coords", "from d"), d)
	expectFrom(t, receive(t, b, "coords", "from d"), d)
	publish(t, a, "coords", "to d", client.Reliable)
	expectFrom(t, receive(t, d, "coords", "to d"), a)
	expectFrom(t, receive(t, e, "coords", "to d"), a)

	// The SDK given both coordinators finds the live one.
	f := cl.Client(t, func(cfg *client.Config) { cfg.CoordinatorURLs = cl.URLs() })
	if f.Alias()&1 != 1 {
		t.Fatalf("client f got alias %d, not from coordinator 1", f.Alias())
	}
	subscribe(t, f, "coords")
	reach(t, f, a, "coords", client.Reliable)
	reach(t, b, f, "coords", client.Reliable)

	seen := map[uint64]string{}
	for name, alias := range map[string]uint64{
		"a": a.Alias(), "b": b.Alias(), "c": c.Alias(), "d": d.Alias(), "e": e.Alias(), "f": f.Alias(),
		"server 0": cl.Server(0).Stats().Alias, "server 1": cl.Server(1).Stats().Alias,
	} {
		if other, dup := seen[alias]; dup {
			t.Fatalf("alias %d is both %s's and %s's", alias, name, other)
		}
		seen[alias] = name
	}
}

// TestNoDoubleLinks: with two coordinators each listing both servers, a
// 2-server mesh has exactly one link: one message crosses once. A
// coordinator restart (the servers register there again, under the same
// alias) adds none.
func TestNoDoubleLinks(t *testing.T) {
	cl := cluster.Start(t, cluster.Options{Servers: 2, Coordinators: 2})
	checkOne := func(t *testing.T) {
		t.Helper()
		for i := range 2 {
			st := cl.Server(i).Stats()
			links := cl.Counter(t, i, "commserver_peers", map[string]string{"role": "COMMUNICATION_SERVER"})
			if st.Servers != 1 || links != 1 {
				t.Fatalf("server %d has %d server links (gauge %g), want 1", i, st.Servers, links)
			}
			if lost := cl.Counter(t, i, "commserver_server_links_lost_total", nil); lost != 0 {
				t.Fatalf("server %d lost %g server links: a duplicate was made and closed", i, lost)
			}
		}
		a := cl.Client(t, cl.Via(0), cl.On(0))
		b := cl.Client(t, cl.Via(1), cl.On(1))
		subscribe(t, a, "once")
		subscribe(t, b, "once")
		reach(t, a, b, "once", client.Reliable)
		// The server counts a TOPIC once it has queued it to every
		// subscriber, which may be after b already has it. a's PING is
		// handled by the same read loop after a's earlier messages, so
		// its echo fences the count: it then holds every TOPIC a sent.
		// (Under 8 concurrent copies the count of reach's last message
		// once came after the first reading: 3 TOPICs for 2 publishes.)
		sent := func() float64 {
			ping(t, a, client.Reliable)
			return cl.Counter(t, 0, "commserver_messages_sent_total", map[string]string{"type": "TOPIC"})
		}
		before := sent()
		publish(t, a, "once", "crosses once", client.Reliable)
		publish(t, a, "once", "marker", client.Reliable)
		next(t, b, "once", "crosses once")
		next(t, b, "once", "marker")
		if n := sent() - before; n != 2 {
			t.Fatalf("server 0 sent %g TOPICs to servers for 2 publishes, want 2 (one link)", n)
		}
		_ = a.Close()
		_ = b.Close()
	}
	checkOne(t)
	if cl.Server(0).Stats().Alias == cl.Server(1).Stats().Alias {
		t.Fatal("both servers have one alias")
	}
	aliases := []uint64{cl.Server(0).Stats().Alias, cl.Server(1).Stats().Alias}

	cl.StopCoordinatorAt(t, 1)
	cl.StartCoordinatorAt(t, 1)
	cl.WaitReady(t)
	for i := range 2 {
		if got := cl.Server(i).Stats().Alias; got != aliases[i] {
			t.Fatalf("server %d's alias changed from %d to %d across a coordinator restart", i, aliases[i], got)
		}
	}
	checkOne(t)
}

// TestServerJoinsWhileACoordinatorIsDown: a server that starts while its
// first coordinator is down registers at the other, under an alias of that
// one's partition, links to the mesh, and when the first comes back
// registers there under the same alias (proposed): clients of either reach
// it, and it still has one link.
func TestServerJoinsWhileACoordinatorIsDown(t *testing.T) {
	cl := cluster.Start(t, cluster.Options{Servers: 1, Coordinators: 2})
	cl.StopCoordinatorAt(t, 0)
	late, _, _ := startServer(t, cl, "late")
	testwait.For(t, cluster.ReadyTimeout, "the late server registered and linked", func() bool {
		st := late.Stats()
		return st.Coordinators == 1 && st.Servers == 1
	})
	alias := late.Stats().Alias
	if alias&1 != 1 {
		t.Fatalf("late server's alias %d is not from coordinator 1's partition", alias)
	}
	cl.StartCoordinatorAt(t, 0)
	// (Not cl.WaitReady: the cluster's one server has a link it does not
	// expect, the late one's.)
	testwait.For(t, cluster.ReadyTimeout, "both servers registered at both coordinators", func() bool {
		return late.Stats().Coordinators == 2 && cl.Server(0).Stats().Coordinators == 2
	})
	if st := late.Stats(); st.Alias != alias || st.Servers != 1 {
		t.Fatalf("late server: alias %d, %d server links; want %d, 1", st.Alias, st.Servers, alias)
	}
	onLate := func(cfg *client.Config) { cfg.Server = alias }
	a := cl.Client(t, cl.Via(0), onLate)
	b := cl.Client(t, cl.Via(1), cl.On(0))
	subscribe(t, a, "late")
	subscribe(t, b, "late")
	reach(t, a, b, "late", client.Reliable)
	reach(t, b, a, "late", client.Reliable)
}

// TestTwoCoordinatorsNATS: with cluster.transport=nats the servers open no
// links, so two coordinators only have to list and signal: clients of
// each talk across servers, also once one coordinator is gone.
func TestTwoCoordinatorsNATS(t *testing.T) {
	cl := cluster.Start(t, cluster.Options{Servers: 2, Coordinators: 2, Transport: commserver.TransportNATS})
	a := cl.Client(t, cl.Via(0), cl.On(0))
	b := cl.Client(t, cl.Via(1), cl.On(1))
	subscribe(t, a, "nats-coords")
	subscribe(t, b, "nats-coords")
	reach(t, a, b, "nats-coords", client.Reliable)
	reach(t, b, a, "nats-coords", client.Reliable)

	cl.StopCoordinatorAt(t, 1)
	cl.WaitReady(t)
	c := cl.Client(t, cl.Via(0), cl.On(1))
	subscribe(t, c, "nats-coords")
	reach(t, b, a, "nats-coords", client.Reliable) // b joined through the dead one
	reach(t, c, a, "nats-coords", client.Reliable)
	reach(t, a, c, "nats-coords", client.Reliable)
	for i := range 2 {
		if st := cl.Server(i).Stats(); st.Servers != 0 {
			t.Fatalf("NATS server %d has %d server links, want 0", i, st.Servers)
		}
	}
}
