package commserver_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/commserver"
	"github.com/webrtc-broker/webrtc-broker/protocol"
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

// TestE2EBusyRetryKeepsTheConnectDeadline: a server whose only half-open
// place is held (a flooder that never answers its offer) keeps refusing as
// busy; the client retries until its ConnectTimeout and then fails with the
// deadline, not with ErrServerFull: the retries count toward the deadline.
func TestE2EBusyRetryKeepsTheConnectDeadline(t *testing.T) {
	cl := cluster.Start(t, cluster.Options{
		Servers: 1,
		Server: func(_ int, cfg *commserver.Config) {
			cfg.MaxHalfOpen = 1
			cfg.ICEStartTimeout = time.Minute // the flooder keeps its place
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	offered := make(chan struct{}, 64)
	ws := floodSocket(t, cl.URL()+"/connect")
	wg.Go(func() { floodReplies(ctx, ws, protocol.MessageType_WEBRTC_OFFER, offered) })
	select {
	case <-offered:
	case <-time.After(eventTimeout):
		t.Fatal("the flooder was never offered: it holds no half-open place")
	}

	_, err := cl.Dial(t, func(c *client.Config) { c.ConnectTimeout = 2 * time.Second })
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, client.ErrServerFull) {
		t.Fatalf("dial while busy until the deadline: %v, want the deadline, not ErrServerFull", err)
	}
	if n := commserver.RefusedBusyForTest(cl.Server(0)); n == 0 {
		t.Fatal("no CONNECT was refused as busy: the test proves nothing")
	}
}
