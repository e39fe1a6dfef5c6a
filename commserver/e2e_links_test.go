package commserver_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/commserver"
	"github.com/webrtc-broker/webrtc-broker/core/rtcconfig"
	"github.com/webrtc-broker/webrtc-broker/internal/testmetrics"
	"github.com/webrtc-broker/webrtc-broker/internal/testwait"
	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

// Link-healing metrics (issue 12, defect 2).
const (
	linksLost     = "commserver_server_links_lost_total"
	linksRestored = "commserver_server_links_restored_total"
	redialing     = "commserver_server_redials"
)

// TestE2EServerLinkHeals: a server link closed from either end comes back
// while the coordinator link stays up, both servers count one loss and one
// restore per close, and the subscriptions are announced again: a client on
// one server gets what a client on the other publishes after the heal.
func TestE2EServerLinkHeals(t *testing.T) {
	cl := cluster.Start(t, cluster.Options{Servers: 2})
	a, b := cl.Client(t, cl.On(0)), cl.Client(t, cl.On(1))
	subscribe(t, a, "heal")
	subscribe(t, b, "heal")
	reach(t, b, a, "heal", client.Reliable)

	for round, side := range []int{0, 1} {
		t.Run(fmt.Sprintf("closed by server %d", side), func(t *testing.T) {
			closed := time.Now()
			if n := commserver.CloseServerLinksForTest(cl.Server(side)); n != 1 {
				t.Fatalf("closed %d server links on server %d, want 1", n, side)
			}
			want := float64(round + 1)
			testwait.For(t, cluster.EventTimeout, "the server link back on both servers", func() bool {
				for i := range 2 {
					if cl.Server(i).Stats().Servers != 1 || cl.Counter(t, i, linksRestored, nil) < want {
						return false
					}
				}
				return true
			})
			t.Logf("server link healed %s after the close", time.Since(closed).Round(time.Millisecond))
			for i := range 2 {
				if got := cl.Counter(t, i, linksLost, nil); got != want {
					t.Errorf("server %d: %s = %v, want %v", i, linksLost, got, want)
				}
				if got := cl.Counter(t, i, linksRestored, nil); got != want {
					t.Errorf("server %d: %s = %v, want %v", i, linksRestored, got, want)
				}
			}
			// No client re-subscribed: delivery across the new link needs
			// the servers to have announced their topic sets again.
			reach(t, b, a, "heal", client.Reliable)
			reach(t, a, b, "heal", client.Unreliable)
		})
	}
}

// TestE2EServerGoneForGood: when a server a link was lost to has left the
// coordinator, the server that dialed it stops re-dialing, and keeps its
// other links.
func TestE2EServerGoneForGood(t *testing.T) {
	cl := cluster.Start(t, cluster.Options{Servers: 1})
	// Started one after the other so that each dials the ones before it:
	// the last one, m2, is the side that re-dials m1.
	m1, _, stopM1 := startServer(t, cl, "m1")
	testwait.For(t, cluster.ReadyTimeout, "m1 linked", func() bool { return m1.Stats().Servers == 1 })
	m2, reg2, _ := startServer(t, cl, "m2")
	testwait.For(t, cluster.ReadyTimeout, "m2 linked to both", func() bool {
		return m2.Stats().Servers == 2 && m1.Stats().Servers == 2 && cl.Server(0).Stats().Servers == 2
	})

	stopM1()
	testwait.For(t, cluster.EventTimeout, "m2 to lose m1 and stop re-dialing it", func() bool {
		return gather(t, reg2, linksLost) == 1 && gather(t, reg2, redialing) == 0
	})
	if got := gather(t, reg2, linksRestored); got != 0 {
		t.Errorf("m2: %s = %v, want 0", linksRestored, got)
	}
	if got := m2.Stats().Servers; got != 1 {
		t.Errorf("m2 has %d server links, want 1 (server 0)", got)
	}
}

// serverSpec adjusts a server startServer starts: its config, the server
// before it runs, and whether to wait for its registration.
type serverSpec struct {
	config     func(*commserver.Config)
	setup      func(*commserver.Server)
	unwelcomed bool // do not wait for a WELCOME: the coordinator refuses it
}

// startServer runs one more server against cl's coordinators, configured as
// cl's own are (then spec); stop stops it and waits.
func startServer(t *testing.T, cl *cluster.Cluster, name string, spec ...serverSpec) (*commserver.Server, *prometheus.Registry, func()) {
	t.Helper()
	cfg := commserver.Config{CoordinatorURLs: cl.URLs(), WebRTC: rtcconfig.Config{LoopbackOnly: true}}
	cfg.Reconnect.Min, cfg.Reconnect.Max = 20*time.Millisecond, 200*time.Millisecond
	cfg.Cluster.Secret = cl.Secret()
	var sp serverSpec
	if len(spec) > 0 {
		sp = spec[0]
	}
	if sp.config != nil {
		sp.config(&cfg)
	}
	reg := prometheus.NewRegistry()
	s, err := commserver.New(cfg, commserver.Options{Logger: cluster.Logger(name), Registry: reg})
	if err != nil {
		t.Fatalf("server %s: %v", name, err)
	}
	if sp.setup != nil {
		sp.setup(s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("server %s: %v", name, err)
			}
		case <-time.After(cluster.ReadyTimeout):
			t.Errorf("server %s did not stop", name)
		}
	}
	t.Cleanup(stop)
	if !sp.unwelcomed {
		testwait.For(t, cluster.ReadyTimeout, name+" registered", func() bool { return s.Stats().CoordinatorConnected })
	}
	return s, reg, stop
}

// gather is the value of the counter or gauge name on reg.
func gather(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	r := testmetrics.Read(t, reg, name, nil)
	if !r.Registered {
		t.Fatalf("no metric %q", name)
	}
	return r.Sum
}

// TestE2EServerLinkHealsAfterCoordinatorRestart: after a coordinator
// restart every server has a new alias and the links made under the old
// ones carry on; a link lost then is dialed again under the new aliases
// (the old ones are gone), whichever end it is closed from.
func TestE2EServerLinkHealsAfterCoordinatorRestart(t *testing.T) {
	cl := cluster.Start(t, cluster.Options{Servers: 2})
	a, b := cl.Client(t, cl.On(0)), cl.Client(t, cl.On(1))
	subscribe(t, a, "heal")
	subscribe(t, b, "heal")
	reach(t, b, a, "heal", client.Reliable)
	old := []uint64{cl.Server(0).Stats().Alias, cl.Server(1).Stats().Alias}
	cl.StopCoordinator(t)
	cl.StartCoordinator(t)
	testwait.For(t, cluster.ReadyTimeout, "both servers re-registered under new aliases", func() bool {
		for i := range 2 {
			if st := cl.Server(i).Stats(); !st.CoordinatorConnected || st.Alias == old[i] || st.Alias == 0 {
				return false
			}
		}
		return true
	})
	cl.WaitReady(t)

	for round, side := range []int{0, 1} {
		t.Run(fmt.Sprintf("closed by server %d", side), func(t *testing.T) {
			if n := commserver.CloseServerLinksForTest(cl.Server(side)); n != 1 {
				t.Fatalf("closed %d server links on server %d, want 1", n, side)
			}
			want := float64(round + 1)
			testwait.For(t, cluster.EventTimeout, "the server link back on both servers", func() bool {
				for i := range 2 {
					if cl.Server(i).Stats().Servers != 1 || cl.Counter(t, i, linksRestored, nil) < want {
						return false
					}
				}
				return true
			})
			reach(t, b, a, "heal", client.Reliable)
		})
	}
}
