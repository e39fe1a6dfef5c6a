package commserver_test

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/commserver"
	"github.com/webrtc-broker/webrtc-broker/commserver/natsbus"
	"github.com/webrtc-broker/webrtc-broker/core/policy"
	"github.com/webrtc-broker/webrtc-broker/internal/testwait"
	"github.com/webrtc-broker/webrtc-broker/protocol"
	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

// End to end with cluster.transport=nats: real pion clients on real servers
// that relay through a real NATS server embedded in the test
// (internal/natsembed), never through links of their own.

// natsCluster is n servers relaying through one embedded NATS server.
func natsCluster(t *testing.T, n int, mod ...func(*cluster.Options)) *cluster.Cluster {
	t.Helper()
	o := cluster.Options{Servers: n, Transport: commserver.TransportNATS}
	for _, m := range mod {
		m(&o)
	}
	return cluster.Start(t, o)
}

// subject is topic's NATS subject under the default prefix.
func subject(t *testing.T, topic string) string {
	t.Helper()
	s, ok := natsbus.SubjectFor("wrb", topic)
	if !ok {
		t.Fatalf("no subject for %q", topic)
	}
	return s
}

// TestE2ENATSDeliveryBothWays: two servers, no link between them, a client
// on each; reliable and unreliable messages cross both ways with the
// sender's from_alias, and identity messages keep identity and role.
func TestE2ENATSDeliveryBothWays(t *testing.T) {
	cl := natsCluster(t, 2, func(o *cluster.Options) {
		o.ServerOptions = func(_ int, so *commserver.Options) { so.Auth = identityAuth{} }
	})
	alice := cl.Client(t, cl.On(0), func(c *client.Config) { c.AuthBody = []byte("alice") })
	bob := cl.Client(t, cl.On(1), func(c *client.Config) { c.AuthBody = []byte("bob") })
	for i := range 2 {
		if st := cl.Server(i).Stats(); st.Servers != 0 || !st.NATSConnected {
			t.Fatalf("server %d: %d server links, NATS connected %v; want none and connected", i, st.Servers, st.NATSConnected)
		}
	}
	subscribe(t, alice, "room.1")
	subscribe(t, bob, "room.1")
	// The subscription reaches NATS asynchronously: probe until it has.
	reach(t, alice, bob, "room.1", client.Reliable)
	reach(t, bob, alice, "room.1", client.Reliable)

	publish(t, alice, "room.1", "reliable a->b", client.Reliable)
	expectFrom(t, receive(t, bob, "room.1", "reliable a->b"), alice)
	publish(t, bob, "room.1", "reliable b->a", client.Reliable)
	expectFrom(t, receive(t, alice, "room.1", "reliable b->a"), bob)

	// Unreliable: lossy in principle, so probe until one arrives; what
	// arrives must have come on the unreliable channel.
	m := reach(t, alice, bob, "room.1", client.Unreliable)
	expectFrom(t, m, alice)
	if m.Channel != client.Unreliable {
		t.Fatalf("an unreliable message arrived on the %v channel", m.Channel)
	}
	m = reach(t, bob, alice, "room.1", client.Unreliable)
	expectFrom(t, m, bob)

	if err := alice.PublishIdentity("room.1", []byte("signed"), client.Reliable); err != nil {
		t.Fatal(err)
	}
	m = receive(t, bob, "room.1", "signed")
	if !isIdentityMessage(m) || string(m.Identity) != "alice" || m.Role != protocol.Role_CLIENT {
		t.Fatalf("identity %q role %s, want alice CLIENT", m.Identity, m.Role)
	}
	expectFrom(t, m, alice)
	if got := cl.Counter(t, 0, "commserver_nats_published_total", nil); got == 0 {
		t.Fatal("server 0 counts no NATS publishes")
	}
}

// TestE2ENATSTopicsAreNotWildcards: topics holding NATS's separator and
// wildcards are exact topics: a subscriber to "a.*" or "a.>" gets only
// messages on that very topic, never those on "a.b".
func TestE2ENATSTopicsAreNotWildcards(t *testing.T) {
	cl := natsCluster(t, 2)
	a, b := cl.Client(t, cl.On(0)), cl.Client(t, cl.On(1))
	subscribe(t, b, "a.*", "a.>", "fence")
	reach(t, a, b, "a.*", client.Reliable)
	reach(t, a, b, "a.>", client.Reliable)
	reach(t, a, b, "fence", client.Reliable)

	publish(t, a, "a.b", "must not arrive", client.Reliable)
	publish(t, a, "a.b.c", "must not arrive", client.Reliable)
	publish(t, a, "a.%2A", "must not arrive", client.Reliable) // the escaped form of "a.*"
	publish(t, a, "fence", "after", client.Reliable)
	next(t, b, "fence", "after")
}

// TestE2ENATSUnsubscribeStops: a server holds a NATS subscription for a
// topic while one of its clients subscribes to it, and drops it when the
// last one unsubscribes or leaves; delivery stops with it.
func TestE2ENATSUnsubscribeStops(t *testing.T) {
	cl := natsCluster(t, 2)
	ns := cl.NATS()
	a := cl.Client(t, cl.On(0))
	b1, b2 := cl.Client(t, cl.On(1)), cl.Client(t, cl.On(1))
	subscribe(t, b1, "prop", "prop.marker")
	subscribe(t, b2, "prop")
	reach(t, a, b1, "prop", client.Reliable)
	if got := ns.Interest(subject(t, "prop")); got != 1 {
		t.Fatalf("NATS interest in prop's subject = %d, want 1 (one per server, whatever its clients)", got)
	}

	subscribe(t, b1, "prop.marker")
	// b2 still holds prop: the subscription stays.
	publish(t, a, "prop", "still for b2", client.Reliable)
	receive(t, b2, "prop", "still for b2")
	if got := ns.Interest(subject(t, "prop")); got != 1 {
		t.Fatalf("interest in prop with b2 still subscribed = %d, want 1", got)
	}

	// The last local client leaves: server 1 unsubscribes its subject.
	_ = b2.Close()
	testwait.For(t, eventTimeout, "server 1 to unsubscribe prop's subject", func() bool {
		return ns.Interest(subject(t, "prop")) == 0
	})
	publish(t, a, "prop", "after", client.Reliable)
	publish(t, a, "prop.marker", "marker", client.Reliable)
	next(t, b1, "prop.marker", "marker")

	// And back: subscribing again resumes delivery.
	subscribe(t, b1, "prop", "prop.marker")
	reach(t, a, b1, "prop", client.Reliable)
}

// TestE2ENATSReliableOrderPerPublisher: one publisher's reliable messages on
// one topic arrive in the order sent, at a subscriber on another server.
func TestE2ENATSReliableOrderPerPublisher(t *testing.T) {
	cl := natsCluster(t, 2)
	a, b := cl.Client(t, cl.On(0)), cl.Client(t, cl.On(1))
	subscribe(t, b, "seq")
	reach(t, a, b, "seq", client.Reliable)
	const n = 300
	for i := range n {
		publish(t, a, "seq", strconv.Itoa(i), client.Reliable)
	}
	for i := range n {
		next(t, b, "seq", strconv.Itoa(i))
	}
}

// bodyPolicy governs topic "gov": it stamps every publish with the name of
// the server that ran it, so a receiver can tell where the policy ran.
type bodyPolicy struct{ name string }

func (bodyPolicy) Governs(topic string) bool                      { return topic == "gov" }
func (bodyPolicy) OnSubscribe(policy.Peer, string) (bool, string) { return true, "" }
func (bodyPolicy) OnConnect(policy.Peer)                          {}
func (bodyPolicy) OnDisconnect(policy.Peer)                       {}
func (p bodyPolicy) OnPublish(_ policy.Peer, _ string, body []byte, _ bool) policy.Decision {
	return policy.Decision{Verdict: policy.Replace, Body: append([]byte(p.name+":"), body...)}
}

// TestE2ENATSPolicyRunsWhereMessagesEnter: a message's policy runs once, on
// the server its publisher is on; the receiving server does not run its own
// over a message from NATS.
func TestE2ENATSPolicyRunsWhereMessagesEnter(t *testing.T) {
	cl := natsCluster(t, 2, func(o *cluster.Options) {
		o.ServerOptions = func(i int, so *commserver.Options) { so.Policy = bodyPolicy{name: fmt.Sprint("s", i)} }
	})
	a, b := cl.Client(t, cl.On(0)), cl.Client(t, cl.On(1))
	subscribe(t, b, "gov", "fence")
	reach(t, a, b, "fence", client.Reliable) // the same server's subscriptions, made at once
	testwait.For(t, eventTimeout, "server 1 to subscribe gov's subject", func() bool {
		return cl.NATS().Interest(subject(t, "gov")) == 1
	})
	publish(t, a, "gov", "x", client.Reliable)
	receive(t, b, "gov", "s0:x")
}
