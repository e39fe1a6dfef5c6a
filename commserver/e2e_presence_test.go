package commserver_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/commserver"
	"github.com/webrtc-broker/webrtc-broker/core/auth"
	"github.com/webrtc-broker/webrtc-broker/protocol"
	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

// End-to-end tests of presence per topic (issue 14 item 2) on a 2-server
// mesh: a follower on one server sees the members of both.

// follower records a client's PRESENCE messages and keeps the view they
// describe.
type follower struct {
	events chan client.Presence
	view   map[uint64]client.Member
	count  int
	counts bool
}

func newFollower() *follower {
	return &follower{events: make(chan client.Presence, 1024), view: map[uint64]client.Member{}}
}

func (f *follower) config(c *client.Config) {
	c.OnPresence = func(p client.Presence) { f.events <- p }
}

func (f *follower) apply(p client.Presence) {
	f.count, f.counts = p.Count, p.CountsOnly
	if p.Snapshot || p.CountsOnly { // counts only: the members are not known
		clear(f.view)
	}
	if p.Snapshot {
		for _, m := range p.Members {
			f.view[m.Alias] = m
		}
	}
	for _, m := range p.Left {
		delete(f.view, m.Alias)
	}
	for _, m := range p.Joined {
		f.view[m.Alias] = m
	}
}

// members returns the view's aliases, sorted.
func (f *follower) members() []uint64 {
	var out []uint64
	for a := range f.view {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// await applies events until cond holds of the view.
func (f *follower) await(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(eventTimeout)
	for !cond() {
		select {
		case p := <-f.events:
			t.Logf("presence %s: snapshot %v members %d joined %d left %d count %d counts_only %v",
				p.Topic, p.Snapshot, len(p.Members), len(p.Joined), len(p.Left), p.Count, p.CountsOnly)
			f.apply(p)
		case <-deadline:
			t.Fatalf("presence never showed %s: members %v, count %d, counts only %v", what, f.members(), f.count, f.counts)
		}
	}
}

func has(f *follower, cls ...*client.Client) func() bool {
	return func() bool {
		var want []uint64
		for _, c := range cls {
			want = append(want, c.Alias())
		}
		slices.Sort(want)
		return slices.Equal(f.members(), want) && f.count == len(want) && !f.counts
	}
}

func follow(t *testing.T, c *client.Client, topics ...string) {
	t.Helper()
	if err := c.FollowPresence(eventCtx(t), topics...); err != nil {
		t.Fatalf("client %d follow presence %v: %v", c.Alias(), topics, err)
	}
}

// TestPresenceAcrossServers: a follower on server 1 gets a snapshot, then
// sees members join and leave on both servers (by unsubscribing and by
// going away), with the role authentication gave them; a client that did
// not ask gets no PRESENCE, and clients can neither subscribe nor publish
// to the servers' "$presence." topics.
func TestPresenceAcrossServers(t *testing.T) {
	cl := cluster.Start(t, cluster.Options{Servers: 2,
		ServerOptions: func(_ int, o *commserver.Options) { o.Auth = bodyIdentity{} }})
	f := newFollower()
	watcher := cl.Client(t, cl.On(1), f.config)
	bystander := newFollower()
	quiet := cl.Client(t, cl.On(1), bystander.config)

	near := cl.Client(t, cl.On(1), authAs("near"))
	subscribe(t, near, "room")
	follow(t, watcher, "room")
	select {
	case p := <-f.events:
		f.apply(p)
		if !p.Snapshot || p.Topic != "room" {
			t.Fatalf("first PRESENCE %+v, want the snapshot of room", p)
		}
	default:
		t.Fatal("FollowPresence returned before the snapshot arrived")
	}
	f.await(t, "the local member", has(f, near))

	far := cl.Client(t, cl.On(0), authAs("far"))
	subscribe(t, far, "room", "other")
	f.await(t, "a member on the other server", has(f, near, far))
	for c, who := range map[*client.Client]string{near: "near", far: "far"} {
		if m := f.view[c.Alias()]; m.Role != protocol.Role_CLIENT || string(m.Identity) != "identity of "+who {
			t.Fatalf("member %d: role %v identity %q, want CLIENT and what authentication gave %s", c.Alias(), m.Role, m.Identity, who)
		}
	}

	subscribe(t, far, "other")
	f.await(t, "the other server's member leaving", has(f, near))
	subscribe(t, far, "room")
	f.await(t, "it joining again", has(f, near, far))
	_ = far.Close()
	f.await(t, "it going away", has(f, near))
	_ = near.Close()
	f.await(t, "the local member going away", has(f))

	// quiet never followed anything: whatever it had been sent would have
	// come before the echo of this ping.
	ping(t, quiet, client.Reliable)
	select {
	case p := <-bystander.events:
		t.Fatalf("a client that did not follow presence got %+v", p)
	default:
	}

	t.Run("$ topics are the servers'", func(t *testing.T) {
		errs := make(chan *client.ServerError, 8)
		c := cl.Client(t, cl.On(0), func(c *client.Config) { c.OnError = func(e *client.ServerError) { errs <- e } })
		ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
		defer cancel()
		if err := c.Subscribe(ctx, "$presence.room"); err != nil {
			t.Fatal(err)
		}
		if e := <-errs; e.Code != protocol.ErrorCode_ERROR_SUBSCRIPTION_DENIED || e.Topic != "$presence.room" {
			t.Fatalf("subscribing to $presence.room: %v", e)
		}
		publish(t, c, "$presence.room", "forged", client.Reliable)
		if e := <-errs; e.Code != protocol.ErrorCode_ERROR_PUBLISH_DROPPED || e.Topic != "$presence.room" {
			t.Fatalf("publishing on $presence.room: %v", e)
		}
	})
}

// TestPresenceCountsOnly: above presence.max_members a follower is told the
// count only, members on both servers counted, and gets the members again
// when the topic shrinks back under it.
func TestPresenceCountsOnly(t *testing.T) {
	cl := cluster.Start(t, cluster.Options{Servers: 2, Server: func(_ int, cfg *commserver.Config) {
		cfg.Presence.MaxMembers = 3
	}})
	f := newFollower()
	watcher := cl.Client(t, cl.On(1), f.config)
	follow(t, watcher, "crowd")
	f.await(t, "the empty snapshot", has(f))

	var members []*client.Client
	for i := range 5 {
		c := cl.Client(t, cl.On(i%2))
		subscribe(t, c, "crowd")
		members = append(members, c)
	}
	f.await(t, "a count of 5 and no members", func() bool { return f.counts && f.count == 5 && len(f.view) == 0 })
	for _, c := range members[2:] {
		_ = c.Close()
	}
	f.await(t, "the 2 left, as members", has(f, members[0], members[1]))
}

// bodyIdentity admits everyone, with "identity of " and the AUTH body as
// the identity: presence must show what authentication gave.
type bodyIdentity struct{}

func (bodyIdentity) Authenticate(_ context.Context, req auth.Request) (auth.Result, error) {
	return auth.Result{Allow: true, Identity: append([]byte("identity of "), req.Body...)}, nil
}

func (bodyIdentity) Credentials(context.Context, protocol.Role, auth.Target) (auth.Credentials, error) {
	return auth.Credentials{}, nil
}

func (bodyIdentity) Close() error { return nil }

func authAs(who string) func(*client.Config) {
	return func(c *client.Config) { c.AuthBody = []byte(who) }
}

// TestPresenceThroughHub: in a star the servers see only the hub. A
// follower on a server that asks after others already did still gets the
// members on a third server (the hub hands over what it relayed), and when
// that server stops, the hub tells every follower its members left.
func TestPresenceThroughHub(t *testing.T) {
	cl := cluster.Start(t, cluster.Options{Servers: 4, Hub: true})
	f1, f3 := newFollower(), newFollower()
	w1 := cl.Client(t, cl.On(1), f1.config)
	follow(t, w1, "lobby")
	f1.await(t, "the empty snapshot", has(f1))
	m := cl.Client(t, cl.On(2))
	subscribe(t, m, "lobby")
	f1.await(t, "the member on the third server", has(f1, m))

	w3 := cl.Client(t, cl.On(3), f3.config)
	follow(t, w3, "lobby")
	f3.await(t, "the member, from the hub", has(f3, m))

	cl.StopServer(t, 2)
	f1.await(t, "the member gone with its server", has(f1))
	f3.await(t, "the member gone with its server", has(f3))
}

// TestPresenceOverNATS: with cluster.transport=nats (no server links) a
// follower on one server sees members on the other join and leave.
func TestPresenceOverNATS(t *testing.T) {
	cl := natsCluster(t, 2)
	f := newFollower()
	w := cl.Client(t, cl.On(1), f.config)
	early := cl.Client(t, cl.On(0))
	subscribe(t, early, "hall")
	follow(t, w, "hall")
	f.await(t, "the member that was there first", has(f, early))
	late := cl.Client(t, cl.On(0))
	subscribe(t, late, "hall")
	f.await(t, "a member joining", has(f, early, late))
	_ = early.Close()
	f.await(t, "a member leaving", has(f, late))
}
