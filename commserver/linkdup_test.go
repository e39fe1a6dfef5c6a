package commserver

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/core/logging"
	"github.com/webrtc-broker/webrtc-broker/core/relay"
	"github.com/webrtc-broker/webrtc-broker/core/rtcconfig"
	"github.com/webrtc-broker/webrtc-broker/internal/testwait"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// Duplicate links across an alias change (links.go), step by step: two real
// servers with real pion links, and in place of the coordinator a scripted
// one that relays their signaling as the real one does, but changes their
// aliases when the test says and holds back what the test names, so that
// each server's view of the links is the one a race leaves behind (found by
// stress: 1-2 % of TestE2EServerLinkHealsAfterCoordinatorRestart runs).

// dupTimeout bounds each wait for an event. pion gives up on ICE that never
// starts after 30 s, establish_timeout and ice_start_timeout are a minute
// here: an end of a link that closes within dupTimeout was closed by the
// duplicate rule, not by a timer.
const dupTimeout = 15 * time.Second

// sigMsg is one signaling message a server sent the scripted coordinator.
type sigMsg struct {
	typ      protocol.MessageType
	from, to uint64
	data     []byte // as relayed
}

// scriptedCoordinator serves one endpoint per server. A message to an alias
// the test gave out goes to its server, unless hold keeps it back until
// release; a CONNECT to a retired alias (the coordinator restarted) is
// answered with CONNECTION_REFUSED in that alias's name, as refuseGone
// does. Other signaling to a retired alias is still relayed: what is held
// of a link being made across the alias change must still reach it.
type scriptedCoordinator struct {
	ends []*scriptedEnd

	mu      sync.Mutex
	route   map[uint64]*scriptedEnd
	retired map[uint64]bool
	hold    func(sigMsg) bool
	held    []sigMsg
	relayed []sigMsg
}

// scriptedEnd is one server's endpoint; wmu serializes writes to its socket.
type scriptedEnd struct {
	url   string
	conns chan *websocket.Conn
	alias uint64 // its server's latest alias; scriptedCoordinator.mu guards it
	wmu   sync.Mutex
	ws    *websocket.Conn
}

func newScriptedCoordinator(t *testing.T, servers int) *scriptedCoordinator {
	t.Helper()
	c := &scriptedCoordinator{route: map[uint64]*scriptedEnd{}, retired: map[uint64]bool{}}
	up := websocket.Upgrader{}
	for range servers {
		e := &scriptedEnd{conns: make(chan *websocket.Conn, 1)}
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ws, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			e.wmu.Lock()
			e.ws = ws
			e.wmu.Unlock()
			go c.read(e, ws) // ends when the socket closes
			e.conns <- ws
		}))
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen: %v", err)
		}
		srv.Listener = ln
		srv.Start()
		t.Cleanup(func() {
			e.wmu.Lock()
			if e.ws != nil {
				_ = e.ws.Close()
			}
			e.wmu.Unlock()
			srv.Close()
		})
		e.url = "ws://" + ln.Addr().String()
		c.ends = append(c.ends, e)
	}
	return c
}

// accept waits for server i's socket.
func (c *scriptedCoordinator) accept(t *testing.T, i int) {
	t.Helper()
	select {
	case <-c.ends[i].conns:
	case <-time.After(dupTimeout):
		t.Fatalf("server %d did not dial its coordinator endpoint within %s", i, dupTimeout)
	}
}

// welcome gives server i alias, listing servers, as a (re-)registration.
func (c *scriptedCoordinator) welcome(t *testing.T, i int, alias uint64, servers ...uint64) {
	t.Helper()
	c.mu.Lock()
	c.route[alias] = c.ends[i]
	c.ends[i].alias = alias
	c.mu.Unlock()
	b, err := proto.Marshal(&protocol.WelcomeMessage{Type: protocol.MessageType_WELCOME, Alias: alias, AvailableServers: servers})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ends[i].write(b); err != nil {
		t.Fatalf("WELCOME %d: %v", alias, err)
	}
}

// retire forgets aliases as a restarted coordinator has.
func (c *scriptedCoordinator) retire(aliases ...uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, a := range aliases {
		c.retired[a] = true
	}
}

// setHold makes hold decide which messages wait for release.
func (c *scriptedCoordinator) setHold(hold func(sigMsg) bool) {
	c.mu.Lock()
	c.hold = hold
	c.mu.Unlock()
}

// release relays, in order, the held messages match takes.
func (c *scriptedCoordinator) release(t *testing.T, match func(sigMsg) bool) {
	t.Helper()
	c.mu.Lock()
	var out, kept []sigMsg
	for _, m := range c.held {
		if match(m) {
			out = append(out, m)
		} else {
			kept = append(kept, m)
		}
	}
	c.held = kept
	c.mu.Unlock()
	for _, m := range out {
		c.mu.Lock()
		e := c.route[m.to]
		c.relayed = append(c.relayed, m)
		c.mu.Unlock()
		if err := e.write(m.data); err != nil {
			t.Fatalf("release %v to %d: %v", m.typ, m.to, err)
		}
	}
}

// count is how many messages of typ from one alias to another were held
// (held) or relayed.
func (c *scriptedCoordinator) count(held bool, typ protocol.MessageType, from, to uint64) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	list := c.relayed
	if held {
		list = c.held
	}
	n := 0
	for _, m := range list {
		if m.typ == typ && m.from == from && m.to == to {
			n++
		}
	}
	return n
}

func (e *scriptedEnd) write(b []byte) error {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	return e.ws.WriteMessage(websocket.BinaryMessage, b)
}

// read relays what one server sends until its socket closes.
func (c *scriptedCoordinator) read(from *scriptedEnd, ws *websocket.Conn) {
	for {
		_, b, err := ws.ReadMessage()
		if err != nil {
			return
		}
		c.mu.Lock()
		m, ok := decodeSig(b, from.alias)
		if !ok {
			c.mu.Unlock()
			continue // load reports and the like
		}
		to := c.route[m.to]
		switch {
		case m.typ == protocol.MessageType_CONNECT && (to == nil || c.retired[m.to]):
			c.mu.Unlock()
			refusal, _ := proto.Marshal(&protocol.ConnectionRefusedMessage{
				Type: protocol.MessageType_CONNECTION_REFUSED, FromAlias: m.to, ToAlias: m.from,
			})
			_ = from.write(refusal)
			continue
		case to == nil:
			c.mu.Unlock()
			continue // dropped, as the real coordinator drops it
		case c.hold != nil && c.hold(m):
			c.held = append(c.held, m)
			c.mu.Unlock()
			continue
		}
		c.relayed = append(c.relayed, m)
		c.mu.Unlock()
		_ = to.write(m.data)
	}
}

// decodeSig reads a signaling message's target and stamps it as the real
// coordinator does (decodeRelayed): from_alias is the sender's alias now, a
// CONNECT's from_role a server's.
func decodeSig(b []byte, from uint64) (sigMsg, bool) {
	t, err := relay.ReadType(b)
	if err != nil {
		return sigMsg{}, false
	}
	m := sigMsg{typ: t, from: from}
	var msg proto.Message
	switch t {
	case protocol.MessageType_CONNECT:
		var c protocol.ConnectMessage
		if proto.Unmarshal(b, &c) != nil {
			return m, false
		}
		c.FromAlias, c.FromRole, m.to, msg = from, protocol.Role_COMMUNICATION_SERVER, c.ToAlias, &c
	case protocol.MessageType_WEBRTC_OFFER, protocol.MessageType_WEBRTC_ANSWER, protocol.MessageType_WEBRTC_ICE_CANDIDATE:
		var w protocol.WebRtcMessage
		if proto.Unmarshal(b, &w) != nil {
			return m, false
		}
		w.FromAlias, m.to, msg = from, w.ToAlias, &w
	case protocol.MessageType_CONNECTION_REFUSED:
		var r protocol.ConnectionRefusedMessage
		if proto.Unmarshal(b, &r) != nil {
			return m, false
		}
		r.FromAlias, m.to, msg = from, r.ToAlias, &r
	default:
		return m, false
	}
	m.data, err = proto.Marshal(msg)
	return m, err == nil
}

// startScripted runs a server against endpoint i of c and waits for its
// socket.
func startScripted(t *testing.T, c *scriptedCoordinator, i int) *Server {
	t.Helper()
	cfg := Config{CoordinatorURL: c.ends[i].url, WebRTC: rtcconfig.Config{LoopbackOnly: true}}
	cfg.Cluster.Secret = "link-dup-test-cluster-secret"
	cfg.Reconnect.Min, cfg.Reconnect.Max = 20*time.Millisecond, 200*time.Millisecond
	cfg.EstablishTimeout, cfg.ICEStartTimeout = time.Minute, time.Minute
	log := logging.Discard()
	if os.Getenv("BROKER_TEST_LOG") == "1" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).
			With("component", fmt.Sprintf("server%d", i))
	}
	s, err := New(cfg, Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-ran:
			if err != nil {
				t.Errorf("server %d: %v", i, err)
			}
		case <-time.After(dupTimeout):
			t.Errorf("server %d did not stop", i)
		}
	})
	c.accept(t, i)
	return s
}

// livePeer is s's live peer under alias, or nil.
func livePeer(s *Server, alias uint64) *peer {
	s.mu.Lock()
	p := s.peers[alias]
	s.mu.Unlock()
	if p != nil && p.live() {
		return p
	}
	return nil
}

// linkedUnder reports whether s's only server link is up under alias.
func linkedUnder(s *Server, alias uint64) bool {
	links := s.serverLinks()
	return len(links) == 1 && links[0].alias == alias && links[0].isEstablished()
}

// counterValue reads one of s's counters.
func counterValue(t *testing.T, c interface{ Write(*dto.Metric) error }) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// The scene's aliases: the first registration's, then the re-registration's,
// larger as a restarted coordinator's are (alias.go).
const (
	dupA0, dupA1 = 1001, 1002
	dupB0, dupB1 = 2001, 2002
)

// dupScene is two servers right after the race. Server 1 dialed server 0
// under the first aliases; server 0 offered that link (old) and server 1
// answered, but the answer is held: server 1 counts old as its link with
// server 0 (the offer told it server 0's fingerprint), server 0 does not (an
// offered link counts once answered). Both re-register; server 0, whose
// WELCOME lists server 1's new alias, dials it; server 1 offers the new
// link and server 0, knowing of no link with server 1, answers; server 1
// finds the answer a duplicate of old and closes its end.
type dupScene struct {
	c      *scriptedCoordinator
	s0, s1 *Server
	old1   *peer // server 1's end of old
}

// newDupScene plays the race.
func newDupScene(t *testing.T) *dupScene {
	t.Helper()
	c := newScriptedCoordinator(t, 2)
	d := &dupScene{c: c, s0: startScripted(t, c, 0), s1: startScripted(t, c, 1)}
	c.setHold(func(m sigMsg) bool {
		return m.to == dupA0 && (m.typ == protocol.MessageType_WEBRTC_ANSWER || m.typ == protocol.MessageType_WEBRTC_ICE_CANDIDATE)
	})
	c.welcome(t, 0, dupA0)
	testwait.For(t, dupTimeout, "server 0's first alias", func() bool { return d.s0.Alias() == dupA0 })
	c.welcome(t, 1, dupA1, dupA0)
	testwait.For(t, dupTimeout, "old offered, answered and signaled both ways, the answer held", func() bool {
		return c.count(true, protocol.MessageType_WEBRTC_ANSWER, dupA1, dupA0) == 1 &&
			c.count(true, protocol.MessageType_WEBRTC_ICE_CANDIDATE, dupA1, dupA0) > 0 &&
			c.count(false, protocol.MessageType_WEBRTC_ICE_CANDIDATE, dupA0, dupA1) > 0
	})
	if d.old1 = livePeer(d.s1, dupA0); d.old1 == nil || d.old1.offerer {
		t.Fatalf("server 1 has no answered link under server 0's first alias (a peer: %t)", d.old1 != nil)
	}

	c.retire(dupA0, dupA1)
	c.welcome(t, 1, dupB1)
	testwait.For(t, dupTimeout, "server 1's new alias", func() bool { return d.s1.Alias() == dupB1 })
	c.welcome(t, 0, dupB0, dupB1)
	testwait.For(t, dupTimeout, "server 0 to answer server 1's offer under the new aliases", func() bool {
		return c.count(false, protocol.MessageType_WEBRTC_ANSWER, dupB0, dupB1) == 1
	})
	testwait.For(t, dupTimeout, "server 1 to close its end of the duplicate", func() bool {
		return livePeer(d.s1, dupB0) == nil
	})
	d.s1.mu.Lock()
	kept := d.s1.sameAs[dupB0]
	d.s1.mu.Unlock()
	if kept != d.old1 {
		t.Fatalf("server 1 did not record server 0's new alias %d as old's server (another peer: %t)", dupB0, kept != nil)
	}
	return d
}

// TestDuplicateLinkAfterAliasChange: a link that loses to a duplicate
// leaves no half-open end on the other side (it would hold off every
// CONNECT until establish_timeout), and once the link kept ends, from
// either side, the server that kept it dials the other's current alias.
func TestDuplicateLinkAfterAliasChange(t *testing.T) {
	for _, side := range []int{0, 1} {
		t.Run(fmt.Sprintf("kept link closed by server %d", side), func(t *testing.T) {
			d := newDupScene(t)
			testwait.For(t, dupTimeout, "server 0's end of the duplicate closed by server 1's refusal", func() bool {
				return livePeer(d.s0, dupB1) == nil
			})
			d.c.release(t, func(m sigMsg) bool { return m.to == dupA0 })
			testwait.For(t, dupTimeout, "old up on both servers", func() bool {
				return linkedUnder(d.s0, dupA1) && linkedUnder(d.s1, dupA0)
			})
			for i, s := range []*Server{d.s0, d.s1} {
				s.mu.Lock()
				n := len(s.dialing)
				s.mu.Unlock()
				if n != 0 {
					t.Fatalf("server %d still dials %d servers with old up", i, n)
				}
			}

			if n := CloseServerLinksForTest([]*Server{d.s0, d.s1}[side]); n != 1 {
				t.Fatalf("closed %d server links, want 1", n)
			}
			testwait.For(t, dupTimeout, "a link under the new aliases", func() bool {
				return linkedUnder(d.s0, dupB1) && linkedUnder(d.s1, dupB0)
			})
			for i, s := range []*Server{d.s0, d.s1} {
				if lost, back := counterValue(t, s.m.linksLost), counterValue(t, s.m.linksRestored); lost != 1 || back != 1 {
					t.Errorf("server %d: %g links lost, %g restored; want 1 and 1", i, lost, back)
				}
			}
		})
	}
}

// TestDuplicateRefusedForALinkBeingMade: the link a duplicate was refused
// for ends before it came up (its answer was lost with the coordinator, so
// server 0's end meets ice_start_timeout and server 1's ICE fails): server
// 1, which refused the duplicate and so made server 0 stop dialing, dials
// server 0's current alias.
func TestDuplicateRefusedForALinkBeingMade(t *testing.T) {
	d := newDupScene(t)
	testwait.For(t, dupTimeout, "server 0's end of the duplicate closed by server 1's refusal", func() bool {
		return livePeer(d.s0, dupB1) == nil
	})
	old0 := livePeer(d.s0, dupA1)
	if old0 == nil {
		t.Fatal("server 0 has no end of old")
	}
	// What the timers would do, a minute from now here.
	old0.close(slog.LevelInfo, "closed: by the test, as ice_start_timeout would", errICEStartTimeout)
	d.old1.close(slog.LevelInfo, "closed: by the test, as an ICE failure would", nil)
	testwait.For(t, dupTimeout, "a link under the new aliases", func() bool {
		return linkedUnder(d.s0, dupB1) && linkedUnder(d.s1, dupB0)
	})
	for i, s := range []*Server{d.s0, d.s1} {
		if lost := counterValue(t, s.m.linksLost); lost != 0 {
			t.Errorf("server %d: %g links lost, want 0 (none was up)", i, lost)
		}
	}
}
