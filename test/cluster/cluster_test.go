package cluster

import (
	"strings"
	"testing"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/commserver"
	"github.com/webrtc-broker/webrtc-broker/internal/testwait"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

func TestStartRegistersMeshesAndRestartsTheCoordinator(t *testing.T) {
	c := Start(t, Options{Servers: 2})
	for i := range 2 {
		st := c.Server(i).Stats()
		if st.Alias == 0 || !st.CoordinatorConnected || st.Servers != 1 {
			t.Fatalf("server %d after Start: %+v", i, st)
		}
	}
	if !strings.HasPrefix(c.URL(), "ws://127.0.0.1:") {
		t.Fatalf("URL %q is not on loopback", c.URL())
	}
	cl := c.Client(t, c.On(1))
	if cl.ServerAlias() != c.Server(1).Stats().Alias {
		t.Fatalf("On(1) put the client on %d, want server 1 (%d)", cl.ServerAlias(), c.Server(1).Stats().Alias)
	}

	url := c.URL()
	old := c.Server(0).Stats().Alias
	c.StopCoordinator(t)
	c.StopCoordinator(t) // idempotent
	testwait.For(t, EventTimeout, "server 0 to see the coordinator gone", func() bool {
		return !c.Server(0).Stats().CoordinatorConnected
	})
	c.StartCoordinator(t)
	c.WaitReady(t)
	if c.URL() != url {
		t.Fatalf("URL changed across the restart: %q, then %q", url, c.URL())
	}
	if c.Server(0).Stats().Alias == old {
		t.Fatal("server 0 kept its alias across a coordinator restart")
	}
	if got := c.Counter(t, 0, "commserver_peers", map[string]string{"role": "CLIENT"}); got != 0 {
		t.Fatalf("server 0 counts %v clients, want 0", got)
	}
}

// TestStartWithNATS: Transport nats runs an embedded NATS server; the
// servers connect to it and link with no one.
func TestStartWithNATS(t *testing.T) {
	c := Start(t, Options{Servers: 2, Transport: commserver.TransportNATS})
	if c.NATS() == nil || c.NATS().Clients() != 2 {
		t.Fatalf("embedded NATS %v: want one with both servers connected", c.NATS())
	}
	for i := range 2 {
		if st := c.Server(i).Stats(); st.Servers != 0 || !st.NATSConnected {
			t.Fatalf("server %d: %+v", i, st)
		}
	}
}

func TestExpectedLinks(t *testing.T) {
	cases := []struct {
		name string
		opts Options
		want []int
	}{
		{"mesh", Options{}, []int{2, 2, 2}},
		{"star with a hub", Options{Selector: "star", Hub: true}, []int{2, 1, 1}},
		{"star without a hub", Options{Selector: "star"}, []int{0, 0, 0}},
		{"nats", Options{Transport: commserver.TransportNATS}, []int{0, 0, 0}},
	}
	for _, tc := range cases {
		c := &Cluster{opts: tc.opts, servers: make([]*commserver.Server, 3)}
		for i, want := range tc.want {
			if got := c.ExpectedLinks(i); got != want {
				t.Errorf("%s: ExpectedLinks(%d) = %d, want %d", tc.name, i, got, want)
			}
		}
	}
}

// Only topic messages reach Messages() (errors have their own channel), so
// Body matches on topic and body alone.
func TestBodyMatchesTopicAndBody(t *testing.T) {
	match := Body("t", "b")
	cases := []struct {
		m    client.Message
		want bool
	}{
		{client.Message{Topic: "t", Body: []byte("b")}, true},
		{client.Message{Topic: "t", Body: []byte("b"), Role: protocol.Role_CLIENT}, true},
		{client.Message{Topic: "t", Body: []byte("c")}, false},
		{client.Message{Topic: "u", Body: []byte("b")}, false},
	}
	for _, tc := range cases {
		if got := match(tc.m); got != tc.want {
			t.Errorf("Body(t, b)(%+v) = %v, want %v", tc.m, got, tc.want)
		}
	}
}
