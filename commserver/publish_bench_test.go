package commserver

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/webrtc-broker/webrtc-broker/core/relay"
)

// publishers is how many peers publish at once in BenchmarkPublishParallel,
// whatever GOMAXPROCS is: each peer's read loop is its own goroutine.
const publishers = 8

// BenchmarkPublishParallel drives the server's hot path from publishers
// goroutines at once, as that many clients' read loops would: handle reads
// the type, publish parses the message, looks the topic up, decides the
// route, encodes once per form and pushes to every subscriber's queue. It
// has no network: the queues are the real per-peer unreliable queues (4
// messages, drop-oldest), with no writer draining them, so each push is the
// queue's full-queue path (lock, drop the oldest, store) and never wakes a
// writer. ns/op is wall time per published message over all goroutines.
//
// topics=1: all publishers on one topic that 16 clients and 2 servers
// subscribe to (each message goes to 15 clients and 2 servers). topics=8:
// each publisher has its own topic with 4 other clients and the 2 servers,
// so publishers share only the table, the servers' queues and the metrics.
func BenchmarkPublishParallel(b *testing.B) {
	body := make([]byte, 100)
	b.Run("topics=1", func(b *testing.B) {
		f := newRelayFixture(b, RoleServer, 16, 2)
		runPublishers(b, f.clients[:publishers], func(int) []byte {
			return relay.AppendTopic(nil, 0, "t", body)
		})
		expectQueued(b, append(f.clients[publishers:], f.servers...))
	})
	b.Run("topics=8", func(b *testing.B) {
		const group = 5 // a publisher and its 4 subscribers
		f := newRelayFixture(b, RoleServer, publishers*group, 2)
		topics := make([]string, publishers)
		senders := make([]*peer, publishers)
		for g := range publishers {
			topics[g] = fmt.Sprintf("game.room.%d", g)
			for _, p := range f.clients[g*group : (g+1)*group] {
				f.s.subs.SetClient(p, []string{topics[g]})
			}
			senders[g] = f.clients[g*group]
		}
		for _, p := range f.servers {
			f.s.subs.SetServer(p, topics)
		}
		runPublishers(b, senders, func(g int) []byte {
			return relay.AppendTopic(nil, 0, topics[g], body)
		})
		expectQueued(b, f.servers)
	})
}

// runPublishers has each of senders publish its message through handle, one
// goroutine per sender.
func runPublishers(b *testing.B, senders []*peer, msg func(g int) []byte) {
	var next atomic.Int64
	b.SetParallelism(max(1, len(senders)/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		g := int(next.Add(1)-1) % len(senders)
		p, m := senders[g], msg(g)
		ch := p.chans[unreliable]
		for pb.Next() {
			p.handle(ch, m)
		}
	})
}

// expectQueued fails the benchmark unless every one of peers, each a
// subscriber of every message published, got something: a benchmark whose
// messages went nowhere would measure nothing.
func expectQueued(b *testing.B, peers []*peer) {
	b.Helper()
	for _, p := range peers {
		if n, _ := p.chans[unreliable].q.Len(); n == 0 {
			b.Fatalf("peer %d got nothing", p.alias)
		}
	}
}

// discardSink is a data channel whose peer keeps up.
type discardSink struct{}

func (discardSink) Write(p []byte) (int, error) { return len(p), nil }
func (discardSink) Buffered() uint64            { return 0 }

// BenchmarkPublishFanoutBatched is the whole server path of a relayed
// message to subscribers that declared FEATURE_BATCH: handle, publish, one
// encode, a push per subscriber, and each subscriber's writer framing what
// it finds queued as BATCHes (pooled buffers) into a sink that keeps up.
// Every window messages the clock stops until the writers have caught up,
// so the reliable queues stay far below their budget. allocs/op stays at 1,
// the encoded message, whatever the number of subscribers: batching adds
// nothing per subscriber.
func BenchmarkPublishFanoutBatched(b *testing.B) {
	const window = 256
	msg := relay.AppendTopic(nil, 0, "t", make([]byte, 100))
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			f := newRelayFixture(b, RoleServer, n+1, 0)
			sender, subs := f.clients[0], f.clients[1:]
			for _, p := range subs {
				p.startBatching()
			}
			drained := func() {
				for _, p := range subs {
					for k, _ := p.chans[reliable].q.Len(); k > 0; k, _ = p.chans[reliable].q.Len() {
						runtime.Gosched()
					}
				}
			}
			for range window {
				sender.handle(sender.chans[reliable], msg)
			}
			for _, p := range subs {
				// The peer's writer, as opened starts it: one for both
				// channels.
				p.lanes.Attach(int(reliable), discardSink{}, 1<<30)
				go func() { _ = p.lanes.Run(p.ctx) }()
			}
			drained()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				sender.handle(sender.chans[reliable], msg)
				if i%window == window-1 {
					b.StopTimer()
					drained()
					b.StartTimer()
				}
			}
			b.StopTimer()
			var batches uint64
			for _, p := range subs {
				batches += p.chans[reliable].q.Batches()
			}
			b.ReportMetric(float64(b.N*n)/float64(max(batches, 1)), "msgs/batch")
		})
	}
}
