package natsembed

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func TestStartListensOnLoopback(t *testing.T) {
	s, err := Start(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	if !strings.HasPrefix(s.ClientURL(), "nats://127.0.0.1:") || s.Port() == 0 {
		t.Fatalf("client URL %q, port %d: want 127.0.0.1 and a bound port", s.ClientURL(), s.Port())
	}
	if s.RouteURL() != "" {
		t.Fatalf("a single node has a route URL %q", s.RouteURL())
	}
	s.Shutdown() // and again, by the defer: idempotent
}

// TestStartClusterRoutes: three nodes routed together carry a message from
// a client of one node to a subscriber on another.
func TestStartClusterRoutes(t *testing.T) {
	nodes, err := StartCluster(3, "natsembed-test", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, n := range nodes {
			n.Shutdown()
		}
	}()
	sub, err := nats.Connect(nodes[2].ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	pub, err := nats.Connect(nodes[0].ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	got := make(chan *nats.Msg, 64)
	if _, err := sub.ChanSubscribe("probe", got); err != nil {
		t.Fatal(err)
	}
	if err := sub.Flush(); err != nil {
		t.Fatal(err)
	}
	// The subscription crosses the route asynchronously: probe until node
	// 0 has the interest.
	deadline := time.After(10 * time.Second)
	for nodes[0].Interest("probe") == 0 {
		select {
		case <-deadline:
			t.Fatal("node 0 never learnt node 2's subscription")
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := pub.Publish("probe", []byte("across")); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if string(m.Data) != "across" {
			t.Fatalf("got %q", m.Data)
		}
	case <-deadline:
		t.Fatal("nothing crossed the route")
	}
}
