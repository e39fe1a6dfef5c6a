package commserver_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/commserver"
	"github.com/webrtc-broker/webrtc-broker/core/history"
	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

// End-to-end tests of history topics and recovery (issue 14 item 3): a
// client is cut off by its server while the coordinator is away, so that
// it cannot come back before the test lets it; meanwhile another client
// publishes on a history topic.

// recovering is a client set up to reconnect, with its state events and
// recovery answers recorded.
type recovering struct {
	states     chan client.StateEvent
	recoveries chan client.Recovery
}

func newRecovering() *recovering {
	return &recovering{states: make(chan client.StateEvent, 1024), recoveries: make(chan client.Recovery, 64)}
}

func (r *recovering) config(c *client.Config) {
	c.Reconnect = client.Reconnect{MinDelay: 20 * time.Millisecond, MaxDelay: 200 * time.Millisecond}
	c.OnState = func(ev client.StateEvent) { r.states <- ev }
	c.OnRecovery = func(rc client.Recovery) { r.recoveries <- rc }
}

// waitState skips state events until one of state want (not a failed
// attempt) arrives.
func (r *recovering) waitState(t *testing.T, want client.State) client.StateEvent {
	t.Helper()
	deadline := time.After(2 * eventTimeout)
	for {
		select {
		case ev := <-r.states:
			if ev.State == want && ev.Attempt == 0 {
				return ev
			}
		case <-deadline:
			t.Fatalf("no change to state %s", want)
		}
	}
}

func (r *recovering) recovery(t *testing.T) client.Recovery {
	t.Helper()
	select {
	case rc := <-r.recoveries:
		t.Logf("recovery: %+v", rc)
		return rc
	case <-time.After(2 * eventTimeout):
		t.Fatal("no RECOVERY after the reconnection")
		panic("unreachable")
	}
}

// historyCluster is one server keeping rule's history.
func historyCluster(t *testing.T, rule history.Rule) *cluster.Cluster {
	return cluster.Start(t, cluster.Options{Server: func(_ int, cfg *commserver.Config) {
		cfg.History = []history.Rule{rule}
	}})
}

// cut closes a's link from its server with the coordinator stopped, and
// waits until a knows: a stays away until the coordinator is started again.
func cut(t *testing.T, cl *cluster.Cluster, r *recovering, a *client.Client) {
	t.Helper()
	cl.StopCoordinator(t)
	if !commserver.ClosePeerForTest(cl.Server(0), a.Alias()) {
		t.Fatalf("server has no peer %d", a.Alias())
	}
	r.waitState(t, client.StateReconnecting)
}

// TestHistoryRecovery: a client cut off for 2 s while another publishes
// reliably on a history topic (before, during the cut, during its
// reconnection and replay, and after) receives every message exactly once,
// in order, and is told it recovered.
func TestHistoryRecovery(t *testing.T) {
	cl := historyCluster(t, history.Rule{Pattern: "chat.*", Messages: 1000})
	r := newRecovering()
	a := cl.Client(t, r.config)
	b := cl.Client(t)
	r.waitState(t, client.StateConnected)
	subscribe(t, a, "chat.room")
	for i := range 5 {
		publish(t, b, "chat.room", fmt.Sprintf("m-%d", i), client.Reliable)
	}
	for i := range 5 {
		next(t, a, "chat.room", fmt.Sprintf("m-%d", i))
	}
	if _, off, ok := a.StreamPosition("chat.room"); !ok || off != 5 {
		t.Fatalf("position after 5 messages: offset %d, known %v; want 5", off, ok)
	}

	// Read on the side, so that a replay longer than Messages()' buffer
	// never holds up the reconnection.
	got := drain(a)
	cut(t, cl, r, a)
	cutAt := time.Now()
	// The publisher runs on through the cut, the reconnection and the
	// replay, until told to stop.
	published, halt := publishSteadily(t, b, "chat.room", 5)
	away := time.NewTimer(2 * time.Second) // the cut
	<-away.C
	cl.StartCoordinator(t)
	up := r.waitState(t, client.StateConnected)
	t.Logf("reconnected as %d after %s away; %d published", up.Alias, time.Since(cutAt), published.Load())

	rc := r.recovery(t)
	if rc.Topic != "chat.room" || !rc.Recovered || rc.Replayed == 0 {
		t.Fatalf("recovery %+v, want chat.room recovered with messages replayed", rc)
	}
	// Every message from m-5 on, each once, in order: through the replay
	// and ten live ones after it, then the publisher stops and an end
	// marker closes the stream.
	want := int64(5)
	expect := expecter(t, got, "chat.room")
	want = readToTheEnd(t, expect, b, "chat.room", want, published, halt)
	t.Logf("%d messages received in order, %d of them replayed", want, rc.Replayed)
}

// drain forwards cl's messages to a channel large enough for any test.
func drain(cl *client.Client) <-chan client.Message {
	out := make(chan client.Message, 1<<16)
	go func() {
		for m := range cl.Messages() {
			out <- m
		}
	}()
	return out
}

// TestHistoryTooShort: a history of 3 messages cannot cover a cut during
// which 10 were published: the client is told recovered=false, gets the 3
// the history still holds, then live messages.
func TestHistoryTooShort(t *testing.T) {
	cl := historyCluster(t, history.Rule{Pattern: "chat.*", Messages: 3})
	r := newRecovering()
	a := cl.Client(t, r.config)
	b := cl.Client(t)
	r.waitState(t, client.StateConnected)
	subscribe(t, a, "chat.short")
	publish(t, b, "chat.short", "m-0", client.Reliable)
	next(t, a, "chat.short", "m-0")

	cut(t, cl, r, a)
	for i := 1; i <= 10; i++ {
		publish(t, b, "chat.short", fmt.Sprintf("m-%d", i), client.Reliable)
	}
	ping(t, b, client.Reliable) // the server has them all
	cl.StartCoordinator(t)
	r.waitState(t, client.StateConnected)
	rc := r.recovery(t)
	if rc.Topic != "chat.short" || rc.Recovered || rc.Replayed != 3 || rc.Offset != 11 {
		t.Fatalf("recovery %+v, want chat.short not recovered, 3 replayed, stream at offset 11", rc)
	}
	for i := 8; i <= 10; i++ {
		next(t, a, "chat.short", fmt.Sprintf("m-%d", i))
	}
	publish(t, b, "chat.short", "live", client.Reliable)
	next(t, a, "chat.short", "live")
}

// TestHistoryOtherServer: each server numbers its own stream, so a client
// that reconnects to another server is told recovered=false (nothing
// replayed: the other server's offsets say nothing about what it saw), and
// then gets the live messages there.
func TestHistoryOtherServer(t *testing.T) {
	cl := cluster.Start(t, cluster.Options{Servers: 2, Server: func(_ int, cfg *commserver.Config) {
		cfg.History = []history.Rule{{Pattern: "chat.*"}}
	}})
	r := newRecovering()
	a := cl.Client(t, cl.On(0), r.config)
	b := cl.Client(t, cl.On(1))
	r.waitState(t, client.StateConnected)
	subscribe(t, a, "chat.x")
	reach(t, b, a, "chat.x", client.Reliable)

	// Server 0 stops: the client, which would go back to it (it holds a
	// position of server 0's stream, see TestHistoryRecoveryOnSameServer),
	// reconnects to the other one.
	cl.StopServer(t, 0)
	r.waitState(t, client.StateReconnecting)
	up := r.waitState(t, client.StateConnected)
	if other := cl.Server(1).Stats().Alias; up.Server != other {
		t.Fatalf("reconnected to server %d, want the other one %d", up.Server, other)
	}
	if rc := r.recovery(t); rc.Topic != "chat.x" || rc.Recovered || rc.Replayed != 0 {
		t.Fatalf("recovery on another server %+v, want not recovered, nothing replayed", rc)
	}
	publish(t, b, "chat.x", "live", client.Reliable)
	next(t, a, "chat.x", "live")
}

// TestHistoryOverNATS: with cluster.transport=nats, what another server
// publishes reaches a history topic's stream too: a client cut off from
// its server recovers it. (Server 1 takes one client, the publisher, so the
// reconnection goes back to server 0.)
func TestHistoryOverNATS(t *testing.T) {
	cl := natsCluster(t, 2, func(o *cluster.Options) {
		o.Server = func(i int, cfg *commserver.Config) {
			cfg.History = []history.Rule{{Pattern: "chat.*"}}
			if i == 1 {
				cfg.MaxPeers = 1
			}
		}
	})
	r := newRecovering()
	a := cl.Client(t, cl.On(0), r.config)
	b := cl.Client(t, cl.On(1))
	r.waitState(t, client.StateConnected)
	subscribe(t, a, "chat.n")
	reach(t, b, a, "chat.n", client.Reliable)

	cut(t, cl, r, a)
	for i := range 5 {
		publish(t, b, "chat.n", fmt.Sprintf("m-%d", i), client.Reliable)
	}
	ping(t, b, client.Reliable)
	cl.StartCoordinator(t)
	r.waitState(t, client.StateConnected)
	if got, want := a.ServerAlias(), cl.Server(0).Stats().Alias; got != want {
		t.Fatalf("reconnected to server %d, want server 0 (%d)", got, want)
	}
	rc := r.recovery(t)
	if !rc.Recovered || rc.Replayed != 5 {
		t.Fatalf("recovery %+v, want recovered with the 5 messages from the other server", rc)
	}
	for i := range 5 {
		next(t, a, "chat.n", fmt.Sprintf("m-%d", i))
	}
}

// publishSteadily publishes m-first, m-first+1, ... reliably on topic from
// c every 10 ms, until halt (also at cleanup); published counts what went
// out, so a reader knows how far to wait.
func publishSteadily(t *testing.T, c *client.Client, topic string, first int64) (published *atomic.Int64, halt func()) {
	t.Helper()
	published = new(atomic.Int64)
	published.Store(first)
	stop, stopped := make(chan struct{}), make(chan struct{})
	var stopOnce sync.Once
	halt = func() { stopOnce.Do(func() { close(stop) }); <-stopped }
	t.Cleanup(halt)
	go func() {
		defer close(stopped)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			n := published.Load()
			if err := c.Publish(topic, fmt.Appendf(nil, "m-%d", n), client.Reliable); err != nil {
				t.Errorf("publish m-%d: %v", n, err)
				return
			}
			published.Add(1)
		}
	}()
	return published, halt
}

// expecter returns a check that the next message read from got is body on
// topic, within eventTimeout.
func expecter(t *testing.T, got <-chan client.Message, topic string) func(body string) {
	return func(body string) {
		t.Helper()
		select {
		case m := <-got:
			if m.Topic != topic || string(m.Body) != body {
				t.Fatalf("received %q on %q, want %q", m.Body, m.Topic, body)
			}
		case <-time.After(eventTimeout):
			t.Fatalf("no %q", body)
		}
	}
}

// readToTheEnd expects m-want, m-want+1, ... in order, each once: ten
// beyond what publishSteadily had published when called, then, with the
// publisher halted and an end marker sent by b, the rest and the marker.
// It returns how many messages m-N it read up to, the marker excluded.
func readToTheEnd(t *testing.T, expect func(string), b *client.Client, topic string, want int64, published *atomic.Int64, halt func()) int64 {
	t.Helper()
	for live := published.Load() + 10; want < live; want++ {
		expect(fmt.Sprintf("m-%d", want))
	}
	halt()
	publish(t, b, topic, "end", client.Reliable)
	for ; want < published.Load(); want++ {
		expect(fmt.Sprintf("m-%d", want))
	}
	expect("end")
	return want
}
