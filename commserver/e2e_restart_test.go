package commserver_test

import (
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/internal/testwait"
	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

// TestE2ECoordinatorRestart: the coordinator is killed and restarted on the
// same port. Clients already connected keep exchanging messages throughout
// (a reliable stream across two servers loses nothing), the servers
// re-register under new aliases, and a client that joins afterwards talks to
// the old ones.
func TestE2ECoordinatorRestart(t *testing.T) {
	cl := cluster.Start(t, cluster.Options{Servers: 2})
	a, b := cl.Client(t, cl.On(0)), cl.Client(t, cl.On(1))
	subscribe(t, a, "live")
	subscribe(t, b, "live")
	reach(t, a, b, "live", client.Reliable)
	reach(t, b, a, "live", client.Reliable)
	oldAliases := []uint64{cl.Server(0).Stats().Alias, cl.Server(1).Stats().Alias}

	// a streams numbered messages to b for the whole restart; b checks that
	// they arrive complete and in order.
	var sent atomic.Int64
	stop := make(chan struct{})
	streamed := make(chan error, 1)
	go func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				streamed <- a.Publish("live", []byte("end"), client.Reliable)
				return
			case <-tick.C:
			}
			if err := a.Publish("live", []byte(strconv.Itoa(i)), client.Reliable); err != nil {
				streamed <- fmt.Errorf("publish %d: %w", i, err)
				return
			}
			sent.Add(1)
		}
	}()
	received := make(chan error, 1)
	var got atomic.Int64
	go func() {
		for i := 0; ; i++ {
			select {
			case m, ok := <-b.Messages():
				if !ok {
					received <- fmt.Errorf("b went down: %w", b.Err())
					return
				}
				if m.Topic != "live" || strings.HasPrefix(string(m.Body), "probe-") || strings.HasPrefix(string(m.Body), "sync-") {
					i--
					continue
				}
				if string(m.Body) == "end" {
					received <- nil
					return
				}
				if string(m.Body) != strconv.Itoa(i) {
					received <- fmt.Errorf("b received %q, want %d: a message was lost or reordered", m.Body, i)
					return
				}
				got.Add(1)
			case <-time.After(eventTimeout):
				received <- fmt.Errorf("b received nothing for %s after %d messages", eventTimeout, i)
				return
			}
		}
	}()
	// progress waits until b has received n more messages of the stream.
	progress := func(what string, n int64) {
		t.Helper()
		target := got.Load() + n
		testwait.For(t, eventTimeout, what, func() bool { return got.Load() >= target })
	}

	progress("the stream to flow", 10)
	cl.StopCoordinator(t)
	for i := range 2 {
		testwait.For(t, eventTimeout, fmt.Sprintf("server %d to notice the coordinator is gone", i), func() bool {
			return !cl.Server(i).Stats().CoordinatorConnected
		})
	}
	progress("the stream to flow while the coordinator is down", 10)
	ping(t, a, client.Unreliable)
	ping(t, b, client.Unreliable)

	cl.StartCoordinator(t)
	cl.WaitReady(t)
	for i := range 2 {
		if alias := cl.Server(i).Stats().Alias; alias == oldAliases[0] || alias == oldAliases[1] {
			t.Fatalf("server %d re-registered as %d, an alias from before the restart %v", i, alias, oldAliases)
		}
	}
	progress("the stream to flow after the restart", 10)

	close(stop)
	if err := <-streamed; err != nil {
		t.Fatal(err)
	}
	if err := <-received; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d messages streamed across the restart", sent.Load())

	// A newcomer on each server talks to the old clients.
	for i := range 2 {
		c := cl.Client(t, cl.On(i))
		subscribe(t, c, "live")
		reach(t, c, a, "live", client.Reliable)
		reach(t, c, b, "live", client.Reliable)
		reach(t, a, c, "live", client.Reliable)
	}
}
