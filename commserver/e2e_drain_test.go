package commserver_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/commserver"
	"github.com/webrtc-broker/webrtc-broker/coordinator"
	"github.com/webrtc-broker/webrtc-broker/core/relay"
	"github.com/webrtc-broker/webrtc-broker/internal/clienthooks"
	"github.com/webrtc-broker/webrtc-broker/internal/testmetrics"
	"github.com/webrtc-broker/webrtc-broker/internal/testwait"
	"github.com/webrtc-broker/webrtc-broker/protocol"
	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

// TestDrainMovesDrainClientsRefusesNewOnesAndClosesTheRestAfterTheGrace:
// a draining server reports it (the coordinator shows it draining at once),
// sends DRAIN to the client that declared FEATURE_DRAIN, which moves to the
// other server, sends nothing to a 2019 client, refuses a new client's
// CONNECT with SERVER_FULL, and closes the 2019 client when shutdown.grace
// is over. Load reports show each server's clients on the coordinator.
func TestDrainMovesDrainClientsRefusesNewOnesAndClosesTheRestAfterTheGrace(t *testing.T) {
	const grace = 1500 * time.Millisecond
	reg := prometheus.NewRegistry()
	cl := cluster.Start(t, cluster.Options{
		Servers:            2,
		Selector:           "least-loaded",
		CoordinatorOptions: func(o *coordinator.Options) { o.Registry = reg },
		Server: func(_ int, cfg *commserver.Config) {
			cfg.Shutdown.Grace = grace
			cfg.Load.Interval = 50 * time.Millisecond
		},
	})
	serverLabel := func(i int) map[string]string {
		return map[string]string{"server": strconv.FormatUint(cl.Server(i).Stats().Alias, 10)}
	}
	moved := make(chan client.StateEvent, 16)
	modern := cl.Client(t, cl.On(0), func(c *client.Config) {
		c.Reconnect = client.Reconnect{MinDelay: 20 * time.Millisecond, MaxDelay: 200 * time.Millisecond}
		c.OnState = func(ev client.StateEvent) {
			if ev.State == client.StateConnected {
				moved <- ev
			}
		}
	})
	<-moved // Dial's own StateConnected
	// The 2019 client reconnects, so that a DRAIN sent to it would show as a
	// move (the SDK handles DRAIN whatever its AUTH said).
	legacyStates := make(chan client.StateEvent, 64)
	legacy := cl.Client(t, cl.On(0), func(c *client.Config) {
		clienthooks.SkipAuth(c)
		c.Reconnect = client.Reconnect{MinDelay: 20 * time.Millisecond, MaxDelay: 200 * time.Millisecond}
		c.OnState = func(ev client.StateEvent) { legacyStates <- ev }
	})
	marker := client.StateEvent{Attempt: -1} // what follows came after Dial
	legacyStates <- marker
	for ev := range legacyStates {
		if ev == marker {
			break
		}
	}
	if err := clienthooks.SendRaw(legacy, true, relay.AppendAuth(nil, protocol.Role_CLIENT, nil)); err != nil {
		t.Fatalf("2019 AUTH: %v", err)
	}
	subscribe(t, legacy, "legacy") // its AUTH is in force
	subscribe(t, modern, "modern")
	testwait.For(t, eventTimeout, "the coordinator to show 2 clients on server 0", func() bool {
		return testmetrics.Value(t, reg, "coordinator_server_clients", serverLabel(0)) == 2 &&
			testmetrics.Value(t, reg, "coordinator_server_clients", serverLabel(1)) == 0
	})

	drained := make(chan time.Duration, 1)
	go func() {
		start := time.Now()
		cl.Server(0).Drain(context.Background())
		drained <- time.Since(start)
	}()
	testwait.For(t, eventTimeout, "the coordinator to show server 0 draining", func() bool {
		return testmetrics.Value(t, reg, "coordinator_server_draining", serverLabel(0)) == 1
	})
	if v := cl.Counter(t, 0, "commserver_draining", nil); v != 1 {
		t.Fatalf("commserver_draining = %v on the draining server, want 1", v)
	}
	if v := cl.Counter(t, 1, "commserver_draining", nil); v != 0 {
		t.Fatalf("commserver_draining = %v on the other server, want 0", v)
	}
	if _, err := cl.Dial(t, cl.On(0)); !errors.Is(err, client.ErrServerFull) {
		t.Fatalf("a new client on the draining server: %v, want ErrServerFull", err)
	}
	select {
	case ev := <-moved:
		if other := cl.Server(1).Stats().Alias; ev.Server != other {
			t.Fatalf("the drain client moved to %d, want server 1 (%d)", ev.Server, other)
		}
	case <-time.After(eventTimeout):
		t.Fatal("the drain client did not move")
	}
	// The 2019 client heard nothing and is still there until the grace ends.
	if modern.State() != client.StateConnected || legacy.State() != client.StateConnected {
		t.Fatalf("states modern %s legacy %s, want both connected", modern.State(), legacy.State())
	}
	select {
	case took := <-drained:
		if took < grace {
			t.Fatalf("drain ended after %s, before the grace (%s), with the 2019 client still there", took, grace)
		}
	case <-time.After(grace + eventTimeout):
		t.Fatal("drain did not end after its grace")
	}
	select {
	case ev := <-legacyStates:
		t.Fatalf("the 2019 client had state event %s (server %d, err %v) during the drain: it was sent DRAIN", ev.State, ev.Server, ev.Err)
	default:
	}
	cl.StopServer(t, 0)
	select {
	case ev := <-legacyStates:
		if ev.State != client.StateReconnecting || !errors.Is(ev.Err, client.ErrDisconnected) {
			t.Fatalf("the 2019 client: state %s (err %v) once the server stopped, want reconnecting after a loss", ev.State, ev.Err)
		}
	case <-time.After(eventTimeout):
		t.Fatal("the 2019 client was not closed when the drained server stopped")
	}
	if modern.State() != client.StateConnected {
		t.Fatalf("the moved client is %s after the old server stopped, want connected", modern.State())
	}
	ping(t, modern, client.Reliable)
}
