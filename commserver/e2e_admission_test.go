package commserver_test

import (
	"sync"
	"testing"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/commserver"
	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

// TestE2EJoinStormPastHalfOpen: 20 clients dial at once a server that sets
// up only 2 at a time (max_half_open 2). The rest are refused as busy, with
// a retry hint, and the SDK sends CONNECT again by itself within its connect
// deadline: every Dial succeeds, and every client then gets a message
// published to all of them.
func TestE2EJoinStormPastHalfOpen(t *testing.T) {
	const clients, halfOpen = 20, 2
	cl := cluster.Start(t, cluster.Options{
		Servers: 1,
		Server:  func(_ int, cfg *commserver.Config) { cfg.MaxHalfOpen = halfOpen },
	})
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		peers []*client.Client
		errs  []error
	)
	start := make(chan struct{})
	for range clients {
		wg.Go(func() {
			<-start
			c, err := cl.Dial(t)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			peers = append(peers, c)
		})
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		t.Errorf("dial: %v", err)
	}
	if len(errs) > 0 {
		t.Fatalf("%d of %d clients failed to connect past max_half_open %d", len(errs), clients, halfOpen)
	}
	if n := commserver.RefusedBusyForTest(cl.Server(0)); n == 0 {
		t.Fatalf("%d clients dialled at once with max_half_open %d: no CONNECT was refused as busy, the test proves nothing", clients, halfOpen)
	}

	for _, c := range peers {
		subscribe(t, c, "storm")
	}
	publish(t, peers[0], "storm", "all in", client.Reliable)
	for _, c := range peers[1:] {
		receive(t, c, "storm", "all in")
	}
}
