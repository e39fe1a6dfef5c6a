package commserver_test

import (
	"testing"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/internal/testwait"
	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

// TestE2EMesh: three servers, each linked to the other two; a client on each.
func TestE2EMesh(t *testing.T) {
	cl := cluster.Start(t, cluster.Options{Servers: 3})
	a, b, c := cl.Client(t, cl.On(0)), cl.Client(t, cl.On(1)), cl.Client(t, cl.On(2))
	for i, x := range []*client.Client{a, b, c} {
		if want := cl.Server(i).Stats().Alias; x.ServerAlias() != want {
			t.Fatalf("client %d is on server %d, want %d", i, x.ServerAlias(), want)
		}
	}

	t.Run("delivery across servers both ways", func(t *testing.T) {
		for _, x := range []*client.Client{a, b, c} {
			subscribe(t, x, "mesh")
		}
		// A subscription reaches the other servers asynchronously, in the
		// announcement of its server's topic set: probe until it has.
		reach(t, a, b, "mesh", client.Reliable)
		reach(t, a, c, "mesh", client.Reliable)
		reach(t, c, a, "mesh", client.Reliable)
		reach(t, b, c, "mesh", client.Reliable)

		publish(t, a, "mesh", "from a", client.Reliable)
		expectFrom(t, receive(t, b, "mesh", "from a"), a)
		expectFrom(t, receive(t, c, "mesh", "from a"), a)
		publish(t, c, "mesh", "from c", client.Unreliable)
		expectFrom(t, receive(t, a, "mesh", "from c"), c)
		expectFrom(t, receive(t, b, "mesh", "from c"), c)
	})

	t.Run("unsubscribe propagates", func(t *testing.T) {
		subscribe(t, b, "prop", "prop.marker")
		reach(t, a, b, "prop", client.Reliable)
		reach(t, a, b, "prop.marker", client.Reliable)

		relayedToServers := func() float64 {
			return cl.Counter(t, 0, "commserver_messages_sent_total", map[string]string{"type": "TOPIC"})
		}
		before := relayedToServers()
		publish(t, a, "prop", "counted", client.Reliable)
		receive(t, b, "prop", "counted")
		// The count moves after the copies are queued, in server 0's read
		// loop, which may be overtaken by the copy itself: the answer to a
		// ping after it proves the loop has moved on.
		ping(t, a, client.Reliable)
		if relayedToServers() == before {
			t.Fatal("server 0 relayed a TOPIC to server 1 without counting it: the check below would prove nothing")
		}

		subscribe(t, b, "prop.marker")
		// No client can see a server stop relaying a topic to another
		// server, but the server's metrics can: once server 1's new set
		// has reached server 0, a publish on prop there goes to no server.
		// The ping after it proves server 0 handled the publish.
		testwait.For(t, eventTimeout, "server 0 to stop relaying topic prop to server 1", func() bool {
			before := relayedToServers()
			publish(t, a, "prop", "probe", client.Reliable)
			ping(t, a, client.Reliable)
			return relayedToServers() == before
		})
		publish(t, a, "prop", "after", client.Reliable)
		publish(t, a, "prop.marker", "marker", client.Reliable)
		next(t, b, "prop.marker", "marker")

		// And back: subscribing again is announced and delivery resumes.
		subscribe(t, b, "prop", "prop.marker")
		reach(t, a, b, "prop", client.Reliable)
	})
}

// TestE2EStar: two servers exchange through a hub; the servers see only the
// hub, clients only the servers.
func TestE2EStar(t *testing.T) {
	cl := cluster.Start(t, cluster.Options{Servers: 3, Hub: true})
	for i := range 3 {
		if got, want := cl.Server(i).Stats().Servers, cl.ExpectedLinks(i); got != want {
			t.Fatalf("server %d has %d server links, want %d", i, got, want)
		}
	}
	a := cl.Client(t)
	b := cl.Client(t)
	hub := cl.Server(0).Stats().Alias
	if a.ServerAlias() == hub || b.ServerAlias() == hub {
		t.Fatalf("a client was offered the hub %d", hub)
	}
	// The coordinator picks the server; put them on different ones.
	if a.ServerAlias() == b.ServerAlias() {
		other := cl.On(1)
		if a.ServerAlias() == cl.Server(1).Stats().Alias {
			other = cl.On(2)
		}
		b = cl.Client(t, other)
	}

	subscribe(t, a, "star")
	subscribe(t, b, "star")
	reach(t, a, b, "star", client.Reliable)
	reach(t, b, a, "star", client.Reliable)
	publish(t, a, "star", "via hub", client.Reliable)
	expectFrom(t, receive(t, b, "star", "via hub"), a)
	publish(t, b, "star", "and back", client.Unreliable)
	expectFrom(t, receive(t, a, "star", "and back"), b)
}
