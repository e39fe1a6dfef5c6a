package client_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/internal/testwait"
	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

// seqLog records the sequence numbers a client receives on one topic, from
// bodies "seq-N".
type seqLog struct {
	mu     sync.Mutex
	seqs   []int
	probed atomic.Bool // a message on a .probe topic arrived
}

func (s *seqLog) add(t *testing.T, m client.Message) {
	if strings.HasSuffix(m.Topic, ".probe") {
		s.probed.Store(true)
		return
	}
	n, err := strconv.Atoi(strings.TrimPrefix(string(m.Body), "seq-"))
	if err != nil {
		t.Errorf("body %q: %v", m.Body, err)
		return
	}
	s.mu.Lock()
	s.seqs = append(s.seqs, n)
	s.mu.Unlock()
}

func (s *seqLog) last() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.seqs) == 0 {
		return -1
	}
	return s.seqs[len(s.seqs)-1]
}

// check fails unless the log is 0..n-1 exactly, in order.
func (s *seqLog) check(t *testing.T, who string, n int) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, v := range s.seqs {
		if v != i {
			where := slices.Index(s.seqs, i)
			t.Errorf("%s: seq %d is at %d (-1: lost); after it: %v", who, i, where, s.seqs[i:min(len(s.seqs), i+30)])
			t.Fatalf("%s: message %d is seq %d (want %d): lost, duplicated or reordered; got %v", who, i, v, i, s.seqs)
		}
	}
	if len(s.seqs) != n {
		t.Fatalf("%s: %d messages, want %d", who, len(s.seqs), n)
	}
}

// TestMovesToAnotherServerWhenItsServerDrains: a client on a server that
// drains is told so (DRAIN), connects to the other server, subscribes there
// and closes the old link before the grace ends, without a reconnecting
// state: make-before-break. Reliable messages published to it and by it
// all the while arrive exactly once and in order, and the drain ends as
// soon as it has left.
func TestMovesToAnotherServerWhenItsServerDrains(t *testing.T) {
	cl := cluster.Start(t, cluster.Options{Servers: 2})
	s := newStates()
	var got, gotB seqLog
	a := cl.Client(t, cl.On(0), s.reconnecting(0), func(c *client.Config) {
		c.OnMessage = func(m client.Message) { got.add(t, m) }
	})
	b := cl.Client(t, cl.On(1), func(c *client.Config) {
		c.OnMessage = func(m client.Message) { gotB.add(t, m) }
	})
	s.expect(t, cluster.EventTimeout, client.StateConnecting)
	s.expect(t, cluster.EventTimeout, client.StateConnected)
	subscribe(t, a, "dr.in", "dr.in.probe")
	subscribe(t, b, "dr.out", "dr.out.probe")
	waitRoute(t, b, &got, "dr.in")
	waitRoute(t, a, &gotB, "dr.out")

	stop := make(chan struct{})
	var wg sync.WaitGroup
	sent := [2]int{}
	for i, p := range []struct {
		c     *client.Client
		topic string
	}{{b, "dr.in"}, {a, "dr.out"}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					sent[i] = n
					return
				default:
				}
				if err := p.c.Publish(p.topic, fmt.Appendf(nil, "seq-%d", n), client.Reliable); err != nil {
					t.Errorf("publish %d on %s: %v", n, p.topic, err)
					sent[i] = n
					return
				}
				if n%20 == 19 {
					// Pace: a round trip every 20 messages keeps the queues short.
					ctx, cancel := context.WithTimeout(context.Background(), cluster.EventTimeout)
					_, _ = p.c.Ping(ctx, client.Reliable)
					cancel()
				}
			}
		}()
	}
	// Let the streams run on both servers before the drain.
	waitSeq(t, &got, 50)
	waitSeq(t, &gotB, 50)

	other := cl.Server(1).Stats().Alias
	took := cl.DrainServer(t, 0)
	t.Logf("drain took %s; a had seq %d, b seq %d", took, got.last(), gotB.last())
	if took >= 10*time.Second {
		t.Fatalf("drain took %s: the client did not leave before the grace", took)
	}
	moved := s.expect(t, cluster.EventTimeout, client.StateConnected)
	if moved.Server != other || a.ServerAlias() != other {
		t.Fatalf("moved to %d (ServerAlias %d), want the other server %d", moved.Server, a.ServerAlias(), other)
	}
	// Streams keep going on the new server.
	mark := got.last()
	waitSeq(t, &got, mark+50)
	close(stop)
	wg.Wait()
	t.Logf("sent %v", sent)
	// Everything sent has arrived once the last one has.
	waitSeq(t, &got, sent[0]-1)
	waitSeq(t, &gotB, sent[1]-1)
	got.check(t, "a (moved)", sent[0])
	gotB.check(t, "b", sent[1])
	select {
	case ev := <-s.ch:
		t.Fatalf("unexpected state event %s (attempt %d, err %v): a move is not a reconnection", ev.State, ev.Attempt, ev.Err)
	default:
	}
}

// waitRoute publishes probes from "from" on topic+".probe" until "to",
// subscribed to topic and its probe topic in one set, receives one: the set
// is then in force across the mesh (one announcement carries it whole).
func waitRoute(t *testing.T, from *client.Client, to *seqLog, topic string) {
	t.Helper()
	testwait.For(t, cluster.EventTimeout, "a probe on "+topic+" to arrive", func() bool {
		publish(t, from, topic+".probe", "probe")
		return to.probed.Load()
	})
}

// waitSeq waits until log's last sequence number is at least n.
func waitSeq(t *testing.T, log *seqLog, n int) {
	t.Helper()
	testwait.For(t, cluster.EventTimeout, fmt.Sprintf("seq %d", n), func() bool { return log.last() >= n })
}

// TestMoveDeliversARepeatedBodyTwice: a sender that publishes the same body
// once while the receiver's move has begun (the old link delivers it, no new
// link exists yet) and again once the old link is closed gets it delivered
// twice. The dedupe of the overlap used to count bodies, so the first copy
// stayed "owed" by the new link and ate the second for seconds.
func TestMoveDeliversARepeatedBodyTwice(t *testing.T) {
	cl := cluster.Start(t, cluster.Options{Servers: 2})
	s := newStates()
	var mu sync.Mutex
	var bodies []string
	count := func(body string) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, b := range bodies {
			if b == body {
				n++
			}
		}
		return n
	}
	var b *client.Client
	stages := make(chan string, 2)
	a := cl.Client(t, cl.On(0), s.reconnecting(0), func(c *client.Config) {
		c.OnMessage = func(m client.Message) {
			mu.Lock()
			bodies = append(bodies, string(m.Body))
			mu.Unlock()
		}
		client.OnMove(c, func(stage string) {
			if stage == "started" {
				// The old link delivers it before the new link exists.
				publish(t, b, "rep", "same")
				testwait.For(t, cluster.EventTimeout, "the first copy on the old link", func() bool { return count("same") == 1 })
			}
			stages <- stage
		})
	})
	b = cl.Client(t, cl.On(1))
	s.expect(t, cluster.EventTimeout, client.StateConnecting)
	s.expect(t, cluster.EventTimeout, client.StateConnected)
	subscribe(t, a, "rep", "rep.probe")
	testwait.For(t, cluster.EventTimeout, "a probe on rep to arrive", func() bool {
		publish(t, b, "rep.probe", "probe")
		return count("probe") > 0
	})

	go cl.DrainServer(t, 0)
	for _, want := range []string{"started", "ended"} {
		select {
		case got := <-stages:
			if got != want {
				t.Fatalf("move stage %q, want %q", got, want)
			}
		case <-time.After(cluster.EventTimeout):
			t.Fatalf("no move stage %q", want)
		}
	}
	s.expect(t, cluster.EventTimeout, client.StateConnected)
	publish(t, b, "rep", "same") // the new link delivers it; the handover still lingers
	publish(t, b, "rep", "after")
	testwait.For(t, cluster.EventTimeout, "the message after", func() bool { return count("after") == 1 })
	if n := count("same"); n != 2 {
		t.Fatalf("%q delivered %d times, want 2", "same", n)
	}
}
