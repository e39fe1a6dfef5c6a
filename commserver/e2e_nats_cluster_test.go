package commserver_test

import (
	"strconv"
	"testing"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/commserver"
	"github.com/webrtc-broker/webrtc-broker/internal/natsembed"
	"github.com/webrtc-broker/webrtc-broker/internal/testwait"
	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

// End to end over a NATS cluster: three embedded nodes joined by routes on
// 127.0.0.1, each communication server connected to a node of its own.

// natsNodes starts a 3-node NATS cluster, stopped after the test's cluster
// (register it first: cleanups run last-in first-out).
func natsNodes(t *testing.T) []*natsembed.Server {
	t.Helper()
	nodes, err := natsembed.StartCluster(3, "wrb-test", cluster.Logger("nats"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			n.Shutdown()
		}
	})
	return nodes
}

// TestE2ENATSThreeNodeCluster: servers on different NATS nodes deliver to
// each other, every way, through the routes.
func TestE2ENATSThreeNodeCluster(t *testing.T) {
	nodes := natsNodes(t)
	cl := cluster.Start(t, cluster.Options{
		Servers: 3, Transport: commserver.TransportNATS,
		NATSURLs: func(i int) []string { return []string{nodes[i].ClientURL()} },
	})
	for i, n := range nodes {
		if n.Clients() != 1 {
			t.Fatalf("NATS node %d has %d clients, want its one server", i, n.Clients())
		}
	}
	clients := []*client.Client{cl.Client(t, cl.On(0)), cl.Client(t, cl.On(1)), cl.Client(t, cl.On(2))}
	for _, c := range clients {
		subscribe(t, c, "routed")
	}
	for i, from := range clients {
		for j, to := range clients {
			if i == j {
				continue
			}
			reach(t, from, to, "routed", client.Reliable)
			body := "from " + strconv.Itoa(i) + " to " + strconv.Itoa(j)
			publish(t, from, "routed", body, client.Reliable)
			expectFrom(t, receive(t, to, "routed", body), from)
		}
	}
}

// TestE2ENATSNodeKilledMidRun: the NATS node of the subscriber's server,
// then (in a second run) of the publisher's, is shut down while a publisher
// on one server streams reliable messages to a subscriber on the other.
// The server reconnects to another node (learnt from the cluster), its
// subscription is made again, and delivery resumes.
//
// What NATS core guarantees, and so what this transport gives: at most
// once. Messages published while the subscriber's server has no connection
// (between the node's death and its resubscription reaching the other
// nodes) have no subscriber and are gone; a publisher's own server buffers
// what its clients publish while it is reconnecting, in nats.go's reconnect
// buffer (8 MiB), and sends it on reconnect. Order per publisher is kept.
// So the test asserts what holds: what arrives arrives in order, without
// duplicates, and delivery resumes after the reconnection; it logs how many
// messages were lost. The SDK's reliable channel is reliable per WebRTC
// link, not end to end across a NATS failure.
func TestE2ENATSNodeKilledMidRun(t *testing.T) {
	t.Run("subscriber's node", func(t *testing.T) { natsNodeKilled(t, 1) })
	t.Run("publisher's node", func(t *testing.T) { natsNodeKilled(t, 0) })
}

// natsNodeKilled streams from a client on server 0 (NATS node 0) to one on
// server 1 (node 1) and kills node victim (the server on it is server
// victim) mid-run.
func natsNodeKilled(t *testing.T, victim int) {
	nodes := natsNodes(t)
	cl := cluster.Start(t, cluster.Options{
		Servers: 2, Transport: commserver.TransportNATS,
		// Each server is given its node only: it must find another node
		// from what the cluster told it.
		NATSURLs: func(i int) []string { return []string{nodes[i].ClientURL()} },
	})
	pub, sub := cl.Client(t, cl.On(0)), cl.Client(t, cl.On(1))
	subscribe(t, sub, "stream")
	reach(t, pub, sub, "stream", client.Reliable)

	seq, last, lost := 0, -1, 0
	// drain takes what has arrived, checking order, and returns whether a
	// message at or after from has arrived.
	drain := func(from int) bool {
		for {
			select {
			case m, ok := <-sub.Messages():
				if !ok {
					t.Fatalf("subscriber went down: %v", sub.Err())
				}
				n, err := strconv.Atoi(string(m.Body))
				if m.Topic != "stream" || err != nil {
					continue // a probe of reach
				}
				if n <= last {
					t.Fatalf("message %d after %d: order lost or duplicated", n, last)
				}
				lost += n - last - 1
				last = n
			default:
				return last >= from
			}
		}
	}
	send := func() {
		publish(t, pub, "stream", strconv.Itoa(seq), client.Reliable)
		seq++
	}
	for range 100 {
		send()
	}
	testwait.For(t, eventTimeout, "the first 100 messages", func() bool { return drain(99) })
	if lost != 0 {
		t.Fatalf("%d messages lost with every node up", lost)
	}

	reconnects := func() float64 { return cl.Counter(t, victim, "commserver_nats_reconnects_total", nil) }
	nodes[victim].Shutdown()
	testwait.For(t, eventTimeout, "the server to reconnect to another NATS node", func() bool {
		send()
		drain(0)
		return reconnects() >= 1 && cl.Server(victim).Stats().NATSConnected
	})
	after := seq
	testwait.For(t, eventTimeout, "delivery to resume after the reconnection", func() bool {
		send()
		return drain(after)
	})
	t.Logf("NATS node %d killed: %d messages published, %d lost (at most once), order kept", victim, seq, lost)
}
