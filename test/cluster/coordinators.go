package cluster

import (
	"context"
	"fmt"
	"net"
	"testing"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/coordinator"
	"github.com/webrtc-broker/webrtc-broker/internal/testwait"
)

// coord is one of the cluster's coordinators: its address, kept across
// restarts, and while it runs the function that stops it and the channel
// its Serve returns on (Cluster.mu guards both).
type coord struct {
	addr string
	stop context.CancelFunc
	done chan error
}

// listenCoordinators binds a loopback port for each coordinator.
func (c *Cluster) listenCoordinators(t testing.TB) []net.Listener {
	t.Helper()
	var lns []net.Listener
	for range c.opts.Coordinators {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			closeAll(lns)
			t.Fatalf("cluster: coordinator listener: %v", err)
		}
		lns = append(lns, ln)
		c.coords = append(c.coords, &coord{addr: ln.Addr().String()})
	}
	return lns
}

func closeAll(lns []net.Listener) {
	for _, ln := range lns {
		_ = ln.Close()
	}
}

// URL is coordinator 0's base URL, ws://127.0.0.1:PORT (wss:// with
// Options.TLS); it stays the same across StopCoordinator/StartCoordinator.
func (c *Cluster) URL() string { return c.CoordinatorURL(0) }

// CoordinatorURL is coordinator i's base URL.
func (c *Cluster) CoordinatorURL(i int) string {
	if c.tls != nil {
		return "wss://" + c.coords[i].addr
	}
	return "ws://" + c.coords[i].addr
}

// URLs are every coordinator's base URL, what each server's coordinator_url
// lists.
func (c *Cluster) URLs() []string {
	out := make([]string, len(c.coords))
	for i := range c.coords {
		out[i] = c.CoordinatorURL(i)
	}
	return out
}

// Addr is coordinator 0's host:port.
func (c *Cluster) Addr() string { return c.coords[0].addr }

// Via makes a client dial coordinator i: pass it to Client or Dial.
func (c *Cluster) Via(i int) func(*client.Config) {
	u := c.CoordinatorURL(i)
	return func(cfg *client.Config) { cfg.CoordinatorURL = u }
}

// runningCoordinators counts the coordinators not stopped.
func (c *Cluster) runningCoordinators() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, co := range c.coords {
		if co.stop != nil {
			n++
		}
	}
	return n
}

// StopCoordinator stops coordinator 0 (StopCoordinatorAt).
func (c *Cluster) StopCoordinator(t testing.TB) { t.Helper(); c.StopCoordinatorAt(t, 0) }

// StartCoordinator starts coordinator 0 again (StartCoordinatorAt).
func (c *Cluster) StartCoordinator(t testing.TB) { t.Helper(); c.StartCoordinatorAt(t, 0) }

// StopCoordinatorAt stops coordinator i and waits until it has closed every
// socket and its listener, and until every running server has seen its link
// to it go down. The servers and their peers keep running. Stopping a
// stopped coordinator does nothing.
//
// Without the second wait, a WaitReady right after StartCoordinatorAt could
// count a server's stale link to the old coordinator as its registration at
// the new one, and a client sent there would find the server unknown (its
// CONNECT dropped, its dial timed out: TestNoDoubleLinks under 8 concurrent
// copies).
func (c *Cluster) StopCoordinatorAt(t testing.TB, i int) {
	t.Helper()
	c.mu.Lock()
	co := c.coords[i]
	stop, done := co.stop, co.done
	co.stop, co.done = nil, nil
	c.mu.Unlock()
	if stop == nil {
		return
	}
	stop()
	if err := waitDone(done, ReadyTimeout); err != nil {
		t.Fatalf("cluster: stop coordinator %d: %v", i, err)
	}
	testwait.For(t, ReadyTimeout, fmt.Sprintf("every server to see coordinator %d go", i), func() bool {
		running := c.runningCoordinators()
		for j, s := range c.servers {
			if !c.isStopped(j) && s.Stats().Coordinators > running {
				return false
			}
		}
		return true
	})
}

// StartCoordinatorAt starts coordinator i again on the same address as
// before. It does not wait for the servers to re-register: use WaitReady.
func (c *Cluster) StartCoordinatorAt(t testing.TB, i int) {
	t.Helper()
	var ln net.Listener
	// The old listener is closed, but the kernel may take a moment to let
	// the port go; retry briefly rather than fail.
	testwait.For(t, ReadyTimeout, "the coordinator's port to be free again", func() bool {
		var err error
		ln, err = net.Listen("tcp", c.coords[i].addr)
		return err == nil
	})
	c.serveCoordinator(t, i, ln)
}

func (c *Cluster) serveCoordinator(t testing.TB, i int, ln net.Listener) {
	t.Helper()
	cfg := coordinator.Config{Listen: c.coords[i].addr, Selector: c.opts.Selector}
	cfg.Cluster.Secret = c.secret
	if n := len(c.coords); n > 1 {
		cfg.Coordinator = coordinator.PartitionConfig{ID: i, Count: n}
	}
	if c.tls != nil {
		cfg.TLS = coordinator.TLSConfig{Cert: c.tls.CertFile, Key: c.tls.KeyFile}
	}
	if c.opts.Coordinator != nil {
		c.opts.Coordinator(&cfg)
	}
	name := "coordinator"
	if len(c.coords) > 1 {
		name = fmt.Sprintf("coordinator%d", i)
	}
	opts := coordinator.Options{Logger: Logger(name)}
	if c.opts.CoordinatorOptions != nil {
		c.opts.CoordinatorOptions(&opts)
	}
	co, err := coordinator.New(cfg, opts)
	if err != nil {
		_ = ln.Close()
		t.Fatalf("cluster: coordinator %d: %v", i, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- co.Serve(ctx, ln) }()
	c.mu.Lock()
	c.coords[i].stop, c.coords[i].done = cancel, done
	c.mu.Unlock()
}
