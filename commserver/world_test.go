package commserver

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/webrtc-broker/webrtc-broker/core/logging"
	"github.com/webrtc-broker/webrtc-broker/core/policy"
	"github.com/webrtc-broker/webrtc-broker/core/relay"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// worldFixture is a server with world "w.a" (worlds "w.*", cell 16, radius
// 64) and conflate "state.*", whose peers have no network: enough to drive
// publish and read what it queued.
func worldFixture(tb testing.TB, clients, servers int) *relayFixture {
	tb.Helper()
	cfg := Config{Worlds: []WorldConfig{{Pattern: "w.*", Cell: 16, Radius: 64}}, Conflate: []string{"state.*"}}
	s, err := New(cfg, Options{Logger: logging.Discard()})
	if err != nil {
		tb.Fatal(err)
	}
	s.ctx = context.Background()
	f := &relayFixture{s: s}
	add := func(alias uint64, role protocol.Role) *peer {
		s.mu.Lock()
		p := s.newPeer(alias, true, role)
		s.mu.Unlock()
		p.establishing.Stop()
		p.gate.settle(credentials{role: role}, nil)
		return p
	}
	for i := range clients {
		f.clients = append(f.clients, add(uint64(100+i), protocol.Role_CLIENT))
	}
	for i := range servers {
		f.servers = append(f.servers, add(uint64(200+i), protocol.Role_COMMUNICATION_SERVER))
	}
	tb.Cleanup(func() {
		for _, p := range append(f.clients, f.servers...) {
			p.cancel()
			for _, ch := range p.chans {
				ch.q.Close()
			}
		}
	})
	return f
}

// queued takes what p's channel of kind holds, decoded (ERRORs as type only).
func queued(t testing.TB, p *peer, kind chanKind) []relay.Message {
	t.Helper()
	var out []relay.Message
	for _, b := range p.chans[kind].q.Take(nil) {
		m, err := relay.ParseTopic(b)
		if err != nil {
			typ, _ := relay.ReadType(b)
			m = relay.Message{Type: typ}
		}
		out = append(out, m)
	}
	return out
}

func at(x, y float32) relay.Position { return relay.Position{X: x, Y: y} }

// place subscribes p to the world (and topics) and moves it to pos.
func place(t testing.TB, p *peer, pos relay.Position, topics ...string) {
	t.Helper()
	p.setTopics(append([]string{"w.a"}, topics...))
	p.handle(p.chans[reliable], relay.AppendTopicAt(nil, 0, "w.a", nil, pos))
}

func TestWorldRelay(t *testing.T) {
	t.Run("nothing before a position; a message without one is refused", func(t *testing.T) {
		f := worldFixture(t, 2, 0)
		sender, unplaced := f.clients[0], f.clients[1]
		unplaced.setTopics([]string{"w.a"})
		place(t, sender, at(0, 0))
		if got := queued(t, sender, reliable); len(got) != 0 {
			t.Fatalf("a position update was answered: %+v", got)
		}
		sender.handle(sender.chans[unreliable], relay.AppendTopicAt(nil, 0, "w.a", []byte("s"), at(1, 1)))
		if got := queued(t, unplaced, unreliable); len(got) != 0 {
			t.Fatalf("a subscriber without a position got %d messages", len(got))
		}
		unplaced.handle(unplaced.chans[unreliable], relay.AppendTopic(nil, 0, "w.a", []byte("s")))
		if got := queued(t, unplaced, reliable); len(got) != 1 || got[0].Type != protocol.MessageType_ERROR {
			t.Fatalf("a world message without a position: sender got %+v, want one ERROR", got)
		}
		if f.s.m.worldDrops.Load() != 1 {
			t.Fatalf("worldDrops = %d", f.s.m.worldDrops.Load())
		}
	})

	t.Run("near subscribers get it on the world topic with the position, far ones do not, servers on the cell", func(t *testing.T) {
		f := worldFixture(t, 3, 2)
		sender, near, far := f.clients[0], f.clients[1], f.clients[2]
		place(t, sender, at(8, 8))
		place(t, near, at(20, 8))
		place(t, far, at(200, 8))
		f.s.subs.SetServer(f.servers[0], []string{"w.a.cell.0.0"})
		f.s.subs.SetServer(f.servers[1], []string{"w.a.cell.5.0"})
		sender.handle(sender.chans[unreliable], relay.AppendTopicAt(nil, 0, "w.a", []byte("s1"), at(9, 8)))
		got := queued(t, near, unreliable)
		if len(got) != 1 || got[0].Type != protocol.MessageType_TOPIC_FW || string(got[0].Topic) != "w.a" ||
			got[0].From != sender.alias || !got[0].HasPosition || got[0].Position != at(9, 8) || string(got[0].Body) != "s1" {
			t.Fatalf("near got %+v", got)
		}
		if got := queued(t, far, unreliable); len(got) != 0 {
			t.Fatalf("far got %+v", got)
		}
		got = queued(t, f.servers[0], unreliable)
		if len(got) != 1 || got[0].Type != protocol.MessageType_TOPIC || string(got[0].Topic) != "w.a.cell.0.0" || got[0].Position != at(9, 8) {
			t.Fatalf("the server of the cell got %+v", got)
		}
		if got := queued(t, f.servers[1], unreliable); len(got) != 0 {
			t.Fatalf("a server of another cell got %+v", got)
		}
		if got := queued(t, sender, unreliable); len(got) != 0 {
			t.Fatalf("the sender got its own message: %+v", got)
		}
		cells := f.s.subs.ClientTopics()
		if !slices.Contains(cells, "w.a.cell.0.0") || !slices.Contains(cells, "w.a.cell.12.0") || slices.Contains(cells, "w.a.cell.20.0") {
			t.Fatalf("announced set %v lacks the subscribers' cells or has others", cells)
		}
	})

	t.Run("the rate falls with distance: every second message within half the radius", func(t *testing.T) {
		f := worldFixture(t, 4, 0)
		sender, r1, r2, r4 := f.clients[0], f.clients[1], f.clients[2], f.clients[3]
		place(t, sender, at(0, 0))
		place(t, r1, at(16, 0))
		place(t, r2, at(0, 30))
		place(t, r4, at(-60, 0))
		for k := range 8 {
			sender.handle(sender.chans[reliable], relay.AppendTopic(nil, 0, "w.a", fmt.Appendf(nil, "%d", k)))
		}
		for _, tt := range []struct {
			who  *peer
			want []string
		}{{r1, []string{"0", "1", "2", "3", "4", "5", "6", "7"}}, {r2, []string{"0", "2", "4", "6"}}, {r4, []string{"0", "4"}}} {
			var bodies []string
			for _, m := range queued(t, tt.who, reliable) {
				bodies = append(bodies, string(m.Body))
			}
			if !slices.Equal(bodies, tt.want) {
				t.Errorf("peer %d got %v, want %v", tt.who.alias, bodies, tt.want)
			}
		}
	})

	t.Run("a server's message on a cell topic reaches the near local clients on the world topic", func(t *testing.T) {
		f := worldFixture(t, 2, 2)
		near, far := f.clients[0], f.clients[1]
		place(t, near, at(20, 20))
		place(t, far, at(20, 500))
		from := f.servers[0]
		from.handle(from.chans[unreliable], relay.AppendTopicAt(nil, 4242, "w.a.cell.0.0", []byte("remote"), at(10, 10)))
		got := queued(t, near, unreliable)
		if len(got) != 1 || string(got[0].Topic) != "w.a" || got[0].From != 4242 || got[0].Position != at(10, 10) {
			t.Fatalf("near got %+v", got)
		}
		if got := queued(t, far, unreliable); len(got) != 0 {
			t.Fatalf("far got %+v", got)
		}
		if got := queued(t, f.servers[1], unreliable); len(got) != 0 {
			t.Fatalf("a server's message went to another server (not a hub): %+v", got)
		}
	})

	t.Run("clients may neither subscribe to nor publish on cell topics", func(t *testing.T) {
		f := worldFixture(t, 2, 0)
		c, other := f.clients[0], f.clients[1]
		place(t, other, at(0, 0))
		subscribeMsg, _ := encodeSubscription("w.a w.a.cell.3.3 chat.cell.1.1")
		c.handle(c.chans[reliable], subscribeMsg)
		errs := queued(t, c, reliable)
		if len(errs) != 1 || errs[0].Type != protocol.MessageType_ERROR {
			t.Fatalf("a cell subscription: %+v, want one ERROR", errs)
		}
		if subs, _ := f.s.subs.Lookup([]byte("w.a.cell.3.3")); slices.Contains(subs.Clients, c) {
			t.Fatal("the client's subscription to a world's cell is in force")
		}
		if subs, _ := f.s.subs.Lookup([]byte("chat.cell.1.1")); !slices.Contains(subs.Clients, c) {
			t.Fatal("an ordinary topic of a cell's shape was denied")
		}
		c.handle(c.chans[unreliable], relay.AppendTopicAt(nil, 0, "w.a.cell.0.0", []byte("x"), at(1, 1)))
		if got := queued(t, other, unreliable); len(got) != 0 {
			t.Fatalf("a client's publish on a cell topic was relayed: %+v", got)
		}
	})

	t.Run("leaving the world takes the subscriber's cells away and drops the world with its last member", func(t *testing.T) {
		f := worldFixture(t, 1, 0)
		c := f.clients[0]
		place(t, c, at(0, 0), "chat")
		if f.s.worlds.get("w.a") == nil {
			t.Fatal("no world after a subscription")
		}
		c.setTopics([]string{"chat"})
		if topics := f.s.subs.ClientTopics(); !slices.Equal(topics, []string{"chat"}) {
			t.Fatalf("after leaving, topics %v", topics)
		}
		if f.s.worlds.get("w.a") != nil {
			t.Fatal("the world outlived its last member")
		}
		place(t, c, at(0, 0))
		c.leaveWorlds()
		if f.s.worlds.get("w.a") != nil {
			t.Fatal("leaveWorlds kept the world")
		}
	})
}

func TestConflateTopicsAreLatestWins(t *testing.T) {
	f := worldFixture(t, 2, 0)
	sender, sub := f.clients[0], f.clients[1]
	sub.setTopics([]string{"state.x", "chat"})
	for k := range 3 {
		sender.handle(sender.chans[unreliable], relay.AppendTopic(nil, 0, "state.x", fmt.Appendf(nil, "s%d", k)))
		sender.handle(sender.chans[unreliable], relay.AppendTopic(nil, 0, "chat", fmt.Appendf(nil, "c%d", k)))
		sender.handle(sender.chans[reliable], relay.AppendTopic(nil, 0, "state.x", fmt.Appendf(nil, "r%d", k)))
	}
	var bodies []string
	for _, m := range queued(t, sub, unreliable) {
		bodies = append(bodies, string(m.Body))
	}
	if want := []string{"s2", "c0", "c1", "c2"}; !slices.Equal(bodies, want) {
		t.Fatalf("unreliable queue %v, want %v", bodies, want)
	}
	if got := queued(t, sub, reliable); len(got) != 3 {
		t.Fatalf("reliable queue holds %d, want all 3: conflation is for unreliable topics", len(got))
	}
}

// BenchmarkPublishWorld is the world path of a state message: rule lookup,
// position, the grid's move, the cell topic's lookup, the distance and rate
// per subscriber of the cell, one encode, the pushes. 64 clients on a line
// 4 apart (each message reaches about 32 of them at some rate).
func BenchmarkPublishWorld(b *testing.B) {
	f := worldFixture(b, 64, 1)
	for i, p := range f.clients {
		place(b, p, at(float32(i*4), 0))
	}
	f.s.subs.SetServer(f.servers[0], f.s.subs.ClientTopics())
	msgs := make([][]byte, len(f.clients))
	for i := range f.clients {
		msgs[i] = relay.AppendTopicAt(nil, 0, "w.a", make([]byte, 100), at(float32(i*4), 0))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		g := (i * 7) % len(f.clients)
		p := f.clients[g]
		p.handle(p.chans[unreliable], msgs[g])
	}
}

// latestPolicy makes topic "lp" latest-wins, as a Lua rule returning
// "conflate" does.
type latestPolicy struct{}

func (latestPolicy) Governs(topic string) bool                      { return topic == "lp" }
func (latestPolicy) OnSubscribe(policy.Peer, string) (bool, string) { return true, "" }
func (latestPolicy) OnPublish(policy.Peer, string, []byte, bool) policy.Decision {
	return policy.Decision{Verdict: policy.Allow, Conflate: true}
}
func (latestPolicy) OnConnect(policy.Peer)    {}
func (latestPolicy) OnDisconnect(policy.Peer) {}

func TestPolicyMakesATopicLatestWins(t *testing.T) {
	f := newRelayFixture(t, RoleServer, 2, 0) // no worlds, no conflate config
	f.s.policy = latestPolicy{}
	sender, sub := f.clients[0], f.clients[1]
	f.s.subs.SetClient(sub, []string{"lp", "t"})
	for k := range 3 {
		sender.handle(sender.chans[unreliable], relay.AppendTopic(nil, 0, "lp", fmt.Appendf(nil, "l%d", k)))
	}
	sender.handle(sender.chans[unreliable], relay.AppendTopic(nil, 0, "t", []byte("t0")))
	sender.handle(sender.chans[unreliable], relay.AppendTopic(nil, 0, "t", []byte("t1")))
	var bodies []string
	for _, m := range queued(t, sub, unreliable) {
		bodies = append(bodies, string(m.Body))
	}
	if want := []string{"l2", "t0", "t1"}; !slices.Equal(bodies, want) {
		t.Fatalf("queue %v, want %v", bodies, want)
	}
}
