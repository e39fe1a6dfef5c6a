package client_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/commserver"
	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

// TestWorldPositionIsSentAgainAfterReconnecting: a client that only moved
// (SetPosition, no state of its own) loses its server; the new server knows
// nothing of its position, and would send it nothing from the world. The
// SDK sends the World's last position again once the new link is live, so a
// neighbour's state reaches it there, with the neighbour's position.
func TestWorldPositionIsSentAgainAfterReconnecting(t *testing.T) {
	cl := cluster.Start(t, cluster.Options{Servers: 2, Server: func(_ int, cfg *commserver.Config) {
		cfg.Worlds = []commserver.WorldConfig{{Pattern: "world.*", Cell: 16, Radius: 64}}
	}})
	s := newStates()
	watcher := cl.Client(t, cl.On(0), s.reconnecting(0))
	neighbour := cl.Client(t, cl.On(1))
	s.expect(t, cluster.EventTimeout, client.StateConnecting)
	s.expect(t, cluster.EventTimeout, client.StateConnected)
	subscribe(t, watcher, "world.r")
	subscribe(t, neighbour, "world.r")
	if err := watcher.World("world.r").SetPosition(client.Position{X: 1, Y: 1}); err != nil {
		t.Fatal(err)
	}
	if w := watcher.World("world.r"); w != watcher.World(w.Topic()) {
		t.Fatal("World gives a new handle for the same topic")
	}
	near := neighbour.World("world.r")

	cl.StopServer(t, 0)
	s.expect(t, cluster.EventTimeout, client.StateReconnecting)
	if ev := s.expect(t, cluster.EventTimeout, client.StateConnected); ev.Server != cl.Server(1).Stats().Alias {
		t.Fatalf("reconnected to %d, want server 1", ev.Server)
	}
	// The new server places the watcher from the position sent again after
	// the link went live: probe until a neighbour's state arrives.
	deadline := time.Now().Add(cluster.EventTimeout)
	for n := 0; ; n++ {
		if err := near.PublishAt(client.Position{X: 10, Y: 1}, fmt.Appendf(nil, "state-%d", n), client.Reliable); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-watcher.Messages():
			if m.Topic != "world.r" || !m.HasPosition || m.Position != (client.Position{X: 10, Y: 1}) || m.FromAlias != neighbour.Alias() {
				t.Fatalf("watcher got %+v", m)
			}
			return
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the watcher was not placed again on its new server: no neighbour's state reached it")
		}
	}
}
