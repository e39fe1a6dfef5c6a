package coordinator

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/internal/testwait"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// fakeServer is a communication server's coordinator link: it registers on
// /discover, then reads its socket, from resume on, as fast as it can. The
// messages from the peer named in from are handed to got; everything else is
// read and thrown away, like a server dropping candidates for peers it does
// not know.
type fakeServer struct {
	conn   *websocket.Conn
	alias  uint64
	resume chan struct{}
	// start closes resume (once): the server starts reading.
	start  func()
	from   atomic.Uint64
	got    chan []byte
	closed chan error // the read error that ended the link
}

func dialFakeServer(t *testing.T, tc *testCoordinator) *fakeServer {
	t.Helper()
	u := tc.wsURL("/discover?role=COMMUNICATION_SERVER")
	conn, _, err := websocket.DefaultDialer.Dial(u, discoverHeader(t, u))
	if err != nil {
		t.Fatalf("dial /discover: %v", err)
	}
	_, data, err := conn.ReadMessage()
	if err != nil {
		t.Fatalf("read WELCOME: %v", err)
	}
	s := &fakeServer{conn: conn, alias: decode[protocol.WelcomeMessage](t, data).GetAlias(),
		resume: make(chan struct{}), got: make(chan []byte, 1024), closed: make(chan error, 1)}
	s.start = sync.OnceFunc(func() { close(s.resume) })
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-s.resume
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				s.closed <- err
				return
			}
			var m protocol.WebRtcMessage // CONNECT's from_alias is field 2 too
			if proto.Unmarshal(data, &m) == nil && m.GetFromAlias() == s.from.Load() {
				s.got <- data
			}
		}
	}()
	t.Cleanup(func() {
		_ = conn.Close()
		s.start()
		<-done
	})
	return s
}

// TestSignalFloodNeverClosesTheServer is issue 12 defect 3: clients on
// /connect flooding ICE candidates at a server used to fill the
// coordinator's queue towards it, and the coordinator then closed the server
// as a slow consumer (it re-registered under a new alias, and new clients
// failed meanwhile). The server here is busy for the length of the flood (it
// does not read until the flood is over), which is what let the queue fill.
// The server's link must survive, the flooders must be cut, and an honest
// client with a realistic burst of candidates must get through.
func TestSignalFloodNeverClosesTheServer(t *testing.T) {
	cases := []struct {
		name     string
		size     int // bytes of candidate data per message
		messages int // per flooder
		signal   SignalConfig
		queue    int // the coordinator's per-peer queue limit; 0 = its default
	}{
		{name: "8 KiB candidates", size: 8 << 10, messages: 1000},
		{name: "200 B candidates", size: 200, messages: 25000},
		// No pair bound to speak of and a small queue: the server's queue
		// itself fills, which must refuse the flooders' messages, not close
		// the server.
		{name: "the server's queue fills", size: 8 << 10, messages: 1000,
			signal: SignalConfig{PairBytes: 1 << 30}, queue: 64 << 10},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// The server does not read while the flood lasts; a write time-out
			// shorter than that would close it for a reason this test is not
			// about.
			tc := startCoordinator(t, Config{WriteTimeout: waitTimeout, Signal: c.signal}, Options{}, func(co *Coordinator) {
				if c.queue != 0 {
					co.queueLimit = c.queue
				}
			})
			server := dialFakeServer(t, tc)

			const flooders = 4
			candidate, err := proto.Marshal(&protocol.WebRtcMessage{Type: protocol.MessageType_WEBRTC_ICE_CANDIDATE,
				ToAlias: server.alias, Data: bytes.Repeat([]byte("c"), c.size)})
			if err != nil {
				t.Fatal(err)
			}
			peers := make([]*testPeer, flooders)
			for i := range peers {
				peers[i] = dialClient(t, tc)
				peers[i].welcome()
			}
			var flood sync.WaitGroup
			for _, p := range peers {
				flood.Add(1)
				go func() {
					defer flood.Done()
					for range c.messages {
						// A write fails once the coordinator has cut the flooder.
						if p.conn.WriteMessage(websocket.BinaryMessage, candidate) != nil {
							return
						}
					}
				}()
			}
			flood.Wait()
			server.start()

			// The marker: a new client connects, is offered the server and
			// signals it with a CONNECT and a connection's worth of candidates.
			honest := dialClient(t, tc)
			w := honest.welcome()
			server.from.Store(w.GetAlias())
			if got := w.GetAvailableServers(); len(got) != 1 || got[0] != server.alias {
				t.Fatalf("new client offered servers %v, want the flooded server %d still registered", got, server.alias)
			}
			const candidates = 40
			honest.send(connectMsg(server.alias))
			for i := range candidates {
				honest.send(&protocol.WebRtcMessage{Type: protocol.MessageType_WEBRTC_ICE_CANDIDATE, ToAlias: server.alias,
					Data: fmt.Appendf(nil, `{"candidate":"candidate:%d 1 udp 2130706431 127.0.0.1 %d typ host","sdpMid":"0"}`, i, 50000+i)})
			}
			for i := range 1 + candidates {
				select {
				case <-server.got:
				case err := <-server.closed:
					t.Fatalf("the server's coordinator link closed (message %d of the honest client not delivered): %v", i, err)
				case <-time.After(waitTimeout):
					t.Fatalf("honest client: %d of %d messages reached the server", i, 1+candidates)
				}
			}
			select {
			case err := <-server.closed:
				t.Fatalf("the server's coordinator link closed: %v", err)
			default:
			}
			if _, ok := tc.dir.lookup(server.alias); !ok {
				t.Fatalf("server %d is no longer registered", server.alias)
			}

			for i, p := range peers {
				err := p.waitClosed()
				var ce *websocket.CloseError
				if errors.As(err, &ce) && ce.Code != websocket.ClosePolicyViolation {
					t.Errorf("flooder %d closed with %d %q, want %d (policy violation)", i, ce.Code, ce.Text, websocket.ClosePolicyViolation)
				}
			}
			testwait.For(t, waitTimeout, "every flooder counted as cut", func() bool {
				return metricValue(t, tc.Coordinator, "coordinator_disconnects_total", "role", "CLIENT", "reason", reasonSignalFlood) == flooders
			})
			if c.queue != 0 && metricValue(t, tc.Coordinator, "coordinator_messages_dropped_total", "reason", dropReceiverFull) == 0 {
				t.Error("no message refused for a full server queue: the case did not fill it")
			}
		})
	}
}
