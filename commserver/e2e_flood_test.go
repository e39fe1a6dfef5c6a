package commserver_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/commserver"
	"github.com/webrtc-broker/webrtc-broker/protocol"
	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

// TestE2EConnectFlood (issue 12, defect 5): raw coordinator sockets that
// send CONNECT, again and again, and nothing else, hold no max_peers slot:
// real clients still join, up to max_peers, and exchange messages. Before,
// a bare CONNECT held a slot for the whole establish_timeout, so a few such
// sockets kept the server full.
func TestE2EConnectFlood(t *testing.T) {
	const maxPeers, flooders = 3, 20
	cl := cluster.Start(t, cluster.Options{
		Servers: 1,
		Server:  func(_ int, cfg *commserver.Config) { cfg.MaxPeers = maxPeers },
	})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	answered := make(chan struct{}, flooders)
	for range flooders {
		ws := floodSocket(t, cl.URL()+"/connect")
		wg.Go(func() { flood(ctx, ws, answered) })
	}
	// Every flooder's CONNECT has been handled (offered or refused) before
	// the real clients arrive.
	for i := range flooders {
		select {
		case <-answered:
		case <-time.After(eventTimeout):
			t.Fatalf("only %d of %d flooders got an answer to their CONNECT", i, flooders)
		}
	}

	var joined []*client.Client
	for i := range maxPeers {
		c, err := cl.Dial(t)
		if err != nil {
			t.Fatalf("real client %d of %d under a CONNECT flood: %v", i+1, maxPeers, err)
		}
		joined = append(joined, c)
	}
	for _, c := range joined {
		subscribe(t, c, "flood")
	}
	for i, c := range joined {
		body := fmt.Sprintf("from %d", i)
		publish(t, c, "flood", body, client.Reliable)
		for j, other := range joined {
			if j != i {
				expectFrom(t, receive(t, other, "flood", body), c)
			}
		}
	}
}

// floodSocket opens a raw coordinator socket and waits for its WELCOME.
func floodSocket(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

// floodReplies sends CONNECT to the first server WELCOME lists, and again
// on every reply and every 100ms, until ctx is done; it never answers an
// offer. Each reply of type want (UNKNOWN_MESSAGE_TYPE: an offer or a
// refusal) is reported on seen, without blocking.
func floodReplies(ctx context.Context, ws *websocket.Conn, want protocol.MessageType, seen chan<- struct{}) {
	_, b, err := ws.ReadMessage()
	if err != nil {
		return
	}
	var w protocol.WelcomeMessage
	if proto.Unmarshal(b, &w) != nil || len(w.AvailableServers) == 0 {
		return
	}
	connect, err := proto.Marshal(&protocol.ConnectMessage{Type: protocol.MessageType_CONNECT, ToAlias: w.AvailableServers[0]})
	if err != nil {
		return
	}
	replies := make(chan protocol.MessageType, 16)
	go func() {
		defer close(replies)
		for {
			_, b, err := ws.ReadMessage()
			if err != nil {
				return
			}
			var h protocol.CoordinatorMessage
			if proto.Unmarshal(b, &h) == nil {
				select {
				case replies <- h.Type:
				default:
				}
			}
		}
	}()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		_ = ws.SetWriteDeadline(time.Now().Add(eventTimeout))
		if ws.WriteMessage(websocket.BinaryMessage, connect) != nil {
			return
		}
		select {
		case <-ctx.Done():
			ws.Close()
			for range replies {
			}
			return
		case typ, ok := <-replies:
			if !ok {
				return
			}
			answer := typ == protocol.MessageType_WEBRTC_OFFER || typ == protocol.MessageType_CONNECTION_REFUSED
			if typ == want || (want == protocol.MessageType_UNKNOWN_MESSAGE_TYPE && answer) {
				select {
				case seen <- struct{}{}:
				default:
				}
			}
		case <-tick.C:
		}
	}
}

// TestE2EHalfOpenBounds: a client that never answers the offer is closed
// after ice_start_timeout (its next CONNECT gets a new offer, where a CONNECT
// for a live peer is ignored), and CONNECTs beyond max_half_open are refused.
func TestE2EHalfOpenBounds(t *testing.T) {
	const halfOpen = 2
	cl := cluster.Start(t, cluster.Options{
		Servers: 1,
		Server: func(_ int, cfg *commserver.Config) {
			cfg.MaxHalfOpen = halfOpen
			cfg.ICEStartTimeout = 300 * time.Millisecond
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })

	offered := make(chan struct{}, 64)
	ws := floodSocket(t, cl.URL()+"/connect")
	wg.Go(func() { floodReplies(ctx, ws, protocol.MessageType_WEBRTC_OFFER, offered) })
	for i := range 2 {
		select {
		case <-offered:
		case <-time.After(eventTimeout):
			t.Fatalf("offer %d never came: the unanswered peer was not closed", i+1)
		}
	}

	// The bound: hold it with flooders, then one more is refused.
	refused := make(chan struct{}, 64)
	for range 2 * halfOpen {
		ws := floodSocket(t, cl.URL()+"/connect")
		wg.Go(func() { floodReplies(ctx, ws, protocol.MessageType_CONNECTION_REFUSED, refused) })
	}
	select {
	case <-refused:
	case <-time.After(eventTimeout):
		t.Fatalf("%d flooders with max_half_open %d: none refused", 2*halfOpen+1, halfOpen)
	}
}

// flood reports the first answer (an offer or a refusal) on answered.
func flood(ctx context.Context, ws *websocket.Conn, answered chan<- struct{}) {
	once := make(chan struct{}, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		floodReplies(ctx, ws, protocol.MessageType_UNKNOWN_MESSAGE_TYPE, once)
	}()
	select {
	case <-once:
		answered <- struct{}{}
	case <-done:
	}
	<-done
}
