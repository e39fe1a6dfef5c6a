package commserver

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/core/rtcconfig"
	"github.com/webrtc-broker/webrtc-broker/internal/testwait"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// stallTimeout bounds each wait for an event; the events come in
// milliseconds, so it matters only on a loaded machine or a failure.
const stallTimeout = 15 * time.Second

// stallingCoordinator is a coordinator side that accepts sockets and never
// reads from them: whatever the server writes piles up in the kernel until
// its writes block. Its receive buffer is kept small so that this happens
// after tens of KiB, not megabytes.
type stallingCoordinator struct {
	url   string
	conns chan *websocket.Conn
}

func newStallingCoordinator(t *testing.T) *stallingCoordinator {
	t.Helper()
	f := &stallingCoordinator{conns: make(chan *websocket.Conn, 4)}
	up := websocket.Upgrader{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		if tc, ok := ws.NetConn().(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(4 << 10)
		}
		f.conns <- ws
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	f.url = "ws://" + ln.Addr().String()
	return f
}

// accept returns the next socket a server opened.
func (f *stallingCoordinator) accept(t *testing.T, why string) *websocket.Conn {
	t.Helper()
	select {
	case ws := <-f.conns:
		t.Cleanup(func() { _ = ws.Close() })
		return ws
	case <-time.After(stallTimeout):
		t.Fatalf("no coordinator socket %s within %s", why, stallTimeout)
		return nil
	}
}

func (f *stallingCoordinator) welcome(t *testing.T, ws *websocket.Conn, alias uint64, servers ...uint64) {
	t.Helper()
	b, err := proto.Marshal(&protocol.WelcomeMessage{Type: protocol.MessageType_WELCOME, Alias: alias, AvailableServers: servers})
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.WriteMessage(websocket.BinaryMessage, b); err != nil {
		t.Fatalf("WELCOME %d: %v", alias, err)
	}
}

// recordLog keeps every record at Warn and above.
type recordLog struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *recordLog) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (h *recordLog) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, r.Clone())
	return nil
}
func (h *recordLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordLog) WithGroup(string) slog.Handler      { return h }

// find returns the first record whose message contains msg.
func (h *recordLog) find(msg string) (slog.Record, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.recs {
		if strings.Contains(r.Message, msg) {
			return r, true
		}
	}
	return slog.Record{}, false
}

// smallSendBuffer dials with a small kernel send buffer, so that a peer that
// does not read blocks the writer after tens of KiB.
func smallSendBuffer(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4 << 10)
	}
	return c, nil
}

// A coordinator socket that stops reading must not stall signaling: the
// link's read loop goes on handling what arrives (here a WELCOME whose
// handling itself sends a CONNECT) while the writer is stuck, and only the
// queue's bound ends the link, which is then logged, counted and redialed.
func TestCoordinatorLinkStallDoesNotBlockSignaling(t *testing.T) {
	fake := newStallingCoordinator(t)
	logs := &recordLog{}
	cfg := Config{CoordinatorURL: fake.url, WebRTC: rtcconfig.Config{LoopbackOnly: true}}
	s, err := New(cfg, Options{Logger: slog.New(logs)})
	if err != nil {
		t.Fatal(err)
	}
	const bound = 2 << 20
	s.coordTune.queueBytes = bound
	s.coordTune.writeTimeout = time.Hour // only the bound may end the link
	s.coordTune.pingInterval = time.Hour
	s.coordTune.netDial = smallSendBuffer
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	ws := fake.accept(t, "at start")
	fake.welcome(t, ws, 1)
	testwait.For(t, stallTimeout, "the first WELCOME", func() bool { return s.Stats().Alias == 1 })

	// Far more than the two small socket buffers hold, far less than the
	// bound: the writer is stuck in the kernel from here on.
	big := &protocol.WebRtcMessage{Type: protocol.MessageType_WEBRTC_ICE_CANDIDATE, ToAlias: 9, Data: make([]byte, 64<<10)}
	const stuck = 16
	sent := make(chan error, 1)
	go func() {
		for range stuck {
			if err := s.signalVia(s.links[0], big); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	select {
	case err := <-sent:
		if err != nil {
			t.Fatalf("signal while the coordinator does not read: %v", err)
		}
	case <-time.After(stallTimeout):
		t.Fatalf("signal blocked for %s on a coordinator that does not read", stallTimeout)
	}
	// The writer may have taken all of them in one batch (a starved
	// writer runs once the pushes are done) and left the queue empty:
	// wait for it to be stuck in the kernel, then queue one more behind
	// it, which it cannot take. (Under 8 concurrent copies "nothing
	// queued" below once failed though the writer was stuck.)
	testwait.For(t, stallTimeout, "the link's writer stuck in a socket write", writerStuck)
	if err := s.signalVia(s.links[0], big); err != nil {
		t.Fatalf("signal behind the stuck writer: %v", err)
	}

	// A ping wants a pong and handling this WELCOME sends a CONNECT to
	// server 77; the last WELCOME is handled only if neither blocked the
	// read loop.
	if err := ws.WriteControl(websocket.PingMessage, []byte("stalled?"), time.Now().Add(stallTimeout)); err != nil {
		t.Fatalf("ping: %v", err)
	}
	fake.welcome(t, ws, 2, 77)
	fake.welcome(t, ws, 3)
	testwait.For(t, stallTimeout, "the read loop to handle WELCOMEs while writes are stuck",
		func() bool { return s.Stats().Alias == 3 })
	select {
	case <-fake.conns:
		t.Fatalf("the link was restarted before its queue reached the bound")
	default:
	}
	if c := s.links[0].conn.Load(); c == nil {
		t.Fatalf("the link went down while its queue was under the bound")
	} else if _, queued := c.q.Len(); queued == 0 {
		t.Fatalf("nothing queued: the writer was not stuck, the test proves nothing")
	}

	// Now past the bound: the signal that does not fit fails, and the link
	// is restarted.
	var overErr error
	for i := 0; overErr == nil && i < 2*bound/len(big.Data); i++ {
		overErr = s.signalVia(s.links[0], big)
	}
	if !errors.Is(overErr, errCoordinatorBacklog) {
		t.Fatalf("signal past the bound: %v, want %v", overErr, errCoordinatorBacklog)
	}
	rec, ok := logs.find("coordinator link over its queue bound")
	if !ok || rec.Level != slog.LevelWarn {
		t.Fatalf("no warning for the overflow; logged: %v", logs.recs)
	}
	var counted dto.Metric
	if err := s.m.coordOverflows.Write(&counted); err != nil {
		t.Fatal(err)
	}
	if got := counted.GetCounter().GetValue(); got != 1 {
		t.Fatalf("coordinator_queue_overflows_total = %v, want 1", got)
	}
	ws2 := fake.accept(t, "after the overflow")
	fake.welcome(t, ws2, 100)
	testwait.For(t, stallTimeout, "the WELCOME on the new socket", func() bool { return s.Stats().Alias == 100 })
}

// writerStuck reports whether a coordinator link's writer is blocked in a
// socket write, waiting for the kernel's buffers to drain.
func writerStuck() bool {
	for _, g := range testwait.Goroutines("(*coordConn).Write") {
		if strings.Contains(g, "waitWrite") {
			return true
		}
	}
	return false
}
