package coordinator

import (
	"context"
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/webrtc-broker/webrtc-broker/core/outbound"
	"github.com/webrtc-broker/webrtc-broker/internal/testwait"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

func TestALeavingServerIsNoLongerOffered(t *testing.T) {
	tc := startCoordinator(t, Config{}, Options{}, nil)
	leaving, staying := dialServer(t, tc), dialServer(t, tc)
	leaving.welcome()
	stayingAlias := staying.welcome().GetAlias()

	_ = leaving.conn.Close()
	testwait.For(t, waitTimeout, "the coordinator to see the server leave", func() bool { return tc.serverCount() == 1 })

	if got := dialClient(t, tc).welcome().GetAvailableServers(); !slices.Equal(got, []uint64{stayingAlias}) {
		t.Fatalf("client offered %v, want only %d", got, stayingAlias)
	}
	if got := dialServer(t, tc).welcome().GetAvailableServers(); !slices.Equal(got, []uint64{stayingAlias}) {
		t.Fatalf("server offered %v, want only %d", got, stayingAlias)
	}
	if v := metricValue(t, tc.Coordinator, "coordinator_connected_servers"); v != 2 {
		t.Fatalf("connected servers = %v, want 2", v)
	}
}

func TestServeClosesEverySocketAndEndsEveryGoroutine(t *testing.T) {
	tc := startCoordinator(t, Config{}, Options{}, nil)
	peers := []*testPeer{dialClient(t, tc), dialServer(t, tc), dialHub(t, tc)}
	for _, p := range peers {
		p.welcome()
	}
	if len(testwait.Goroutines(coordinatorGoroutines...)) == 0 {
		t.Fatal("no coordinator goroutine found while serving: the check below would prove nothing")
	}

	if err := tc.stop(); err != nil {
		t.Fatalf("Serve returned %v, want nil", err)
	}
	// No waiting here: Serve returns only after every peer's handler has
	// unregistered it and joined its write loop.
	if n := tc.peerCount(); n != 0 {
		t.Fatalf("%d peers still registered after Serve returned", n)
	}
	if v := metricValue(t, tc.Coordinator, "coordinator_connected_clients"); v != 0 {
		t.Fatalf("connected clients = %v after Serve returned", v)
	}
	for _, p := range peers {
		if err := p.waitClosed(); !websocket.IsCloseError(err, websocket.CloseGoingAway) {
			t.Fatalf("socket closed with %v, want 1001 (going away)", err)
		}
	}
	if _, err := net.Dial("tcp", tc.addr); err == nil {
		t.Fatal("listener still accepts after Serve returned")
	}
	// Serve has returned, so the coordinator's goroutines are gone; the
	// test peers' readers (which match too) end with their sockets.
	testwait.GoroutinesEnd(t, waitTimeout, "the coordinator's goroutines to end", coordinatorGoroutines...)
}

// coordinatorGoroutines mark the stacks of the coordinator's goroutines:
// its accept loop, its peers' handlers and write loops, its timers.
var coordinatorGoroutines = []string{"webrtc-broker/coordinator.", "github.com/gorilla/websocket."}

func TestServeReturnsTheListenersError(t *testing.T) {
	c, err := New(Config{}, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- c.Serve(context.Background(), ln) }()
	testwait.For(t, waitTimeout, "Serve to start", func() bool { return c.serving.Load() == 1 })
	_ = ln.Close()
	select {
	case err := <-served:
		if err == nil || !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Serve returned %v, want the listener's error", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Serve did not return after its listener failed")
	}
}

func TestKeepaliveClosesAPeerThatStopsAnsweringPings(t *testing.T) {
	// Long enough that a healthy peer's pong is never late on a loaded
	// machine, short enough to keep the test quick.
	const ping = 300 * time.Millisecond
	tc := startCoordinator(t, Config{PingInterval: ping}, Options{}, nil)
	client, server := dialClient(t, tc), dialServer(t, tc)
	clientAlias, serverAlias := client.welcome().GetAlias(), server.welcome().GetAlias()

	// Taken before the dial: the coordinator arms its read deadline after it
	// accepts the socket, so the close cannot come sooner than 2*ping after
	// this instant (taken after WELCOME, the bound would race the arming).
	started := time.Now()
	silent := dialPeer(t, tc.wsURL("/discover?role=COMMUNICATION_SERVER"), withoutPongs)
	silent.welcome()
	if err := silent.waitClosed(); websocket.IsCloseError(err, websocket.CloseGoingAway, websocket.CloseNormalClosure) {
		t.Fatalf("closed with %v, want a dropped connection", err)
	}
	if waited := time.Since(started); waited < 2*ping {
		t.Fatalf("closed after %s, before the pong wait of %s", waited, 2*ping)
	}
	// The healthy peers, connected for longer than the silent one, live on.
	testwait.For(t, waitTimeout, "the silent peer to be unregistered", func() bool { return tc.peerCount() == 2 })
	expectRelay(t, client, clientAlias, server, serverAlias)
}

func TestASlowConsumerIsClosedInsteadOfQueueingForever(t *testing.T) {
	p := newPeer(nil, protocol.Role_CLIENT, 1, timing{}, 100, nil, testLogger(t))
	if _, err := p.send(make([]byte, 60)); err != nil {
		t.Fatalf("first message: %v", err)
	}
	if _, err := p.send(make([]byte, 60)); !errors.Is(err, outbound.ErrSlowConsumer) {
		t.Fatalf("message over the budget: %v, want outbound.ErrSlowConsumer", err)
	}
	select {
	case <-p.done:
	default:
		t.Fatal("slow consumer not closed")
	}
	if p.cause.code != websocket.CloseTryAgainLater {
		t.Fatalf("close code %d, want %d", p.cause.code, websocket.CloseTryAgainLater)
	}
}

// A server's queue fills with what others address to it: the message is
// refused, the server stays (issue 12 defect 3).
func TestAServerWithAFullQueueIsNotClosed(t *testing.T) {
	p := newPeer(nil, protocol.Role_COMMUNICATION_SERVER, 1, timing{}, 100, nil, testLogger(t))
	if _, err := p.send(make([]byte, 60)); err != nil {
		t.Fatalf("first message: %v", err)
	}
	if _, err := p.send(make([]byte, 60)); !errors.Is(err, outbound.ErrSlowConsumer) {
		t.Fatalf("message over the budget: %v, want outbound.ErrSlowConsumer", err)
	}
	select {
	case <-p.done:
		t.Fatalf("server closed: %s", p.cause.reason)
	default:
	}
}
