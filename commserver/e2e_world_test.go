package commserver_test

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/commserver"
	"github.com/webrtc-broker/webrtc-broker/internal/testwait"
	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

// worldInbox is one world subscriber's record, filled by its OnMessage: how
// many world messages it got from each sender, and which senders' fences
// (on an ordinary topic, after their world messages) have arrived.
type worldInbox struct {
	mu     sync.Mutex
	counts map[uint64]int
	fences map[uint64]bool
	// worldFences: the senders whose fence on the world itself arrived
	// (ordered with their state on every transport, NATS included).
	worldFences map[uint64]bool
	bad         []string // anything a world message should not be
}

func newWorldInbox() *worldInbox {
	return &worldInbox{counts: map[uint64]int{}, fences: map[uint64]bool{}, worldFences: map[uint64]bool{}}
}

func (in *worldInbox) add(pos map[uint64]client.Position) func(client.Message) {
	return func(m client.Message) {
		in.mu.Lock()
		defer in.mu.Unlock()
		switch m.Topic {
		case "fence":
			in.fences[m.FromAlias] = true
		case "world.line":
			if strings.HasPrefix(string(m.Body), "fence ") {
				in.worldFences[m.FromAlias] = true
				return
			}
			if !strings.HasPrefix(string(m.Body), "state ") {
				return // a probe of the setup
			}
			in.counts[m.FromAlias]++
			if want, ok := pos[m.FromAlias]; !m.HasPosition || !ok || m.Position != want {
				in.bad = append(in.bad, fmt.Sprintf("from %d at %+v (has %v), want %+v", m.FromAlias, m.Position, m.HasPosition, want))
			}
		default:
			in.bad = append(in.bad, "topic "+m.Topic)
		}
	}
}

// fenced reports whether every one of n senders' ordinary fences and the
// world fences of near (the senders within the radius) have arrived.
func (in *worldInbox) fenced(n int, near []uint64) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, a := range near {
		if !in.worldFences[a] {
			return false
		}
	}
	return len(in.fences) == n
}

// TestWorldInterestOnMesh: 30 clients on a line, alternately on the two
// servers of a mesh, 8 apart, in a world of radius 64 (cells of 16, rates
// configured to every message within a quarter of the radius, every second
// within half, every fifth beyond). Each publishes
// the same number of state messages on the reliable channel (so that none
// is lost and the counts are exact), then fences: a run of world messages
// as long as the slowest rate, so that one reaches every client within the
// radius, in order with the sender's state on any transport (NATS orders a
// publisher's messages per topic only), and one on an ordinary topic, which
// on a mesh also follows the sender's world messages to every client. Once
// a client has every fence, it has all it will get: exactly perMsg/rate from
// each sender within the radius, by distance, and nothing from beyond;
// every message carries its sender's position.
func TestWorldInterestOnMesh(t *testing.T) { worldOnALine(t, commserver.TransportMesh) }

// TestWorldInterestOverNATS is TestWorldInterestOnMesh with the servers
// exchanging through NATS (an embedded server): the cells are subjects like
// any topic's.
func TestWorldInterestOverNATS(t *testing.T) { worldOnALine(t, commserver.TransportNATS) }

func worldOnALine(t *testing.T, transport string) {
	const (
		clients = 30
		spacing = 8
		perMsg  = 40 // a multiple of every rate, so the count is exact whatever the phase
		maxRate = 5  // the slowest rate configured below
		world   = "world.line"
	)
	cl := cluster.Start(t, cluster.Options{Servers: 2, Transport: transport, Server: func(_ int, cfg *commserver.Config) {
		cfg.Worlds = []commserver.WorldConfig{{Pattern: "world.*", Cell: 16, Radius: 64, Every: []int{1, 2, 5}}}
	}})

	type member struct {
		c     *client.Client
		w     *client.World
		in    *worldInbox
		pos   client.Position
		index int
	}
	positions := map[uint64]client.Position{} // filled before any state message
	var members []*member
	for i := range clients {
		in := newWorldInbox()
		m := &member{in: in, index: i, pos: client.Position{X: float32(i * spacing), Y: 3}}
		m.c = cl.Client(t, cl.On(i%2), func(cfg *client.Config) { cfg.OnMessage = in.add(positions) })
		m.w = m.c.World(world)
		members = append(members, m)
	}
	for _, m := range members {
		positions[m.c.Alias()] = m.pos // before any subscription, so before any OnMessage reads it
	}
	for _, m := range members {
		subscribe(t, m.c, world, "fence")
		if err := m.w.SetPosition(m.pos); err != nil {
			t.Fatal(err)
		}
	}

	// Wait until each server has placed its clients and every cell a
	// server's clients are interested in has reached the other server.
	for i := range 2 {
		testwait.For(t, eventTimeout, fmt.Sprintf("server %d to place its %d clients", i, clients/2), func() bool {
			return commserver.WorldPlacedForTest(cl.Server(i), world) == clients/2
		})
	}
	for i := range 2 {
		var cells []string
		for _, topic := range cl.Server(i).Stats().Topics {
			if strings.HasPrefix(topic, world+".cell.") {
				cells = append(cells, topic)
			}
		}
		if len(cells) == 0 {
			t.Fatalf("server %d announces no cells", i)
		}
		if transport == commserver.TransportNATS {
			natsReady(t, cl, i, len(cells))
			continue
		}
		other := cl.Server(1 - i)
		testwait.For(t, eventTimeout, fmt.Sprintf("server %d's %d cells to reach server %d", i, len(cells), 1-i), func() bool {
			return len(commserver.LinksMissingForTest(other, cells)) == 0
		})
	}

	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for _, m := range members {
		wg.Go(func() {
			for k := range perMsg {
				if err := m.w.Publish([]byte("state "+strconv.Itoa(k)), client.Reliable); err != nil {
					errs <- fmt.Errorf("client %d: %w", m.index, err)
					return
				}
			}
			for k := range maxRate {
				if err := m.w.Publish([]byte("fence "+strconv.Itoa(k)), client.Reliable); err != nil {
					errs <- fmt.Errorf("client %d world fence: %w", m.index, err)
					return
				}
			}
			if err := m.c.Publish("fence", []byte("done"), client.Reliable); err != nil {
				errs <- fmt.Errorf("client %d fence: %w", m.index, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	rateOf := func(d int) int {
		switch {
		case d <= 16:
			return 1
		case d <= 32:
			return 2
		case d <= 64:
			return 5
		}
		return 0
	}
	for _, r := range members {
		var near []uint64
		for _, s := range members {
			if s != r && rateOf(abs(s.index-r.index)*spacing) > 0 {
				near = append(near, s.c.Alias())
			}
		}
		testwait.For(t, eventTimeout, fmt.Sprintf("client %d to get every fence", r.index), func() bool { return r.in.fenced(clients-1, near) })
		r.in.mu.Lock()
		for _, s := range members {
			if s == r {
				continue
			}
			d := abs(s.index-r.index) * spacing
			want := 0
			if rate := rateOf(d); rate > 0 {
				want = perMsg / rate
			}
			if got := r.in.counts[s.c.Alias()]; got != want {
				t.Errorf("client %d got %d state messages from client %d at distance %d (same server: %v), want %d",
					r.index, got, s.index, d, r.index%2 == s.index%2, want)
			}
		}
		if len(r.in.bad) > 0 {
			t.Errorf("client %d: %d bad messages, first: %s", r.index, len(r.in.bad), r.in.bad[0])
		}
		r.in.mu.Unlock()
	}
}

func abs(d int) int {
	if d < 0 {
		return -d
	}
	return d
}

// natsReady waits until server i has subscribed to its clients' topics on
// NATS (its cells among them), and until a subscription it made after those
// is in force at the NATS server: a probe from a client of the other server
// reaches a client of server i on a topic subscribed to last. NATS applies
// one connection's subscriptions in order, so the cells are in force too.
func natsReady(t *testing.T, cl *cluster.Cluster, i, cells int) {
	t.Helper()
	testwait.For(t, eventTimeout, fmt.Sprintf("server %d to subscribe to its %d cells on NATS", i, cells), func() bool {
		return cl.Counter(t, i, "commserver_nats_subscriptions", nil) >= float64(len(cl.Server(i).Stats().Topics))
	})
	to, from := cl.Client(t, cl.On(i)), cl.Client(t, cl.On(1-i))
	sync := fmt.Sprintf("sync.%d", i)
	subscribe(t, to, sync)
	reach(t, from, to, sync, client.Reliable)
}
