package relay

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/webrtc-broker/webrtc-broker/core/outbound"
	"github.com/webrtc-broker/webrtc-broker/core/subscriptions"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// discard is a Sink that accepts everything at once, like a data channel
// whose peer keeps up.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
func (discard) Buffered() uint64            { return 0 }

// benchPeer stands for the communication server's peer: the table stores
// pointers to it and each has its own outbound queue.
type benchPeer struct {
	out *outbound.Queue
}

// BenchmarkFanout is the relay's hot path for one message published by a
// client: look the topic's subscribers up, encode the TOPIC_FW once, and
// push the same bytes to every subscriber's queue, while each subscriber's
// writer goroutine drains its queue as in the server. One op is one relayed
// message; deliveries/s counts the queue pushes. mallocs/msg is measured
// exactly (allocs/op is rounded down): it must be 1, the encoded buffer,
// whatever the number of subscribers.
func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{1, 10, 100, 500} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			benchFanout(b, n, false)
		})
	}
}

// BenchmarkFanoutBatched is BenchmarkFanout with every subscriber batching
// (FEATURE_BATCH), within one packet's payload as on the unreliable
// channel: the writers frame what they find queued in BatchMessages, in
// pooled buffers. mallocs/msg must still be 1: nothing per subscriber.
func BenchmarkFanoutBatched(b *testing.B) {
	for _, n := range []int{1, 10, 100, 500} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			benchFanout(b, n, true)
		})
	}
}

func benchFanout(b *testing.B, subscribers int, batched bool) {
	// window bounds the backlog: every window messages the clock stops
	// until the writers have caught up. The warm-up queues a whole window
	// before the writers start, so the queues' rings and the writers'
	// batches already have their largest size and never grow when timed.
	const window = 256
	const topic = "game.room.42"
	body := make([]byte, 100)

	table := subscriptions.New[*benchPeer]()
	ctx, cancel := context.WithCancel(context.Background())
	var writers sync.WaitGroup
	peers := make([]*benchPeer, subscribers)
	for i := range peers {
		p := &benchPeer{out: outbound.NewReliable(64 << 20)}
		if batched {
			p.out.EnableBatching(1100, BatchFramer{})
		}
		peers[i] = p
		table.SetClient(p, []string{topic, fmt.Sprint("own.", i)})
	}
	defer func() {
		cancel()
		writers.Wait()
	}()
	drained := func() {
		for _, p := range peers {
			for n, _ := p.out.Len(); n > 0; n, _ = p.out.Len() {
				runtime.Gosched()
			}
		}
	}
	topicBytes := []byte(topic)
	relay := func() {
		subs, _ := table.Lookup(topicBytes)
		msg := AppendTopicFW(nil, 42, topic, body)
		for _, p := range subs.Clients {
			if err := p.out.Push(msg); err != nil {
				b.Fatal(err)
			}
		}
	}
	for range window {
		relay()
	}
	for _, p := range peers {
		writers.Go(func() { _ = p.out.Run(ctx, discard{}, 1<<20, nil) })
	}
	drained()

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		relay()
		if i%window == window-1 {
			b.StopTimer()
			drained()
			b.StartTimer()
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N), "mallocs/msg")
	b.ReportMetric(float64(b.N)*float64(subscribers)/b.Elapsed().Seconds(), "deliveries/s")
}

func BenchmarkParse(b *testing.B) {
	msgs := []struct {
		name string
		b    []byte
	}{
		{"TOPIC", AppendTopic(nil, 42, "game.room.42", make([]byte, 100))},
		{"TOPIC_IDENTITY", AppendTopicIdentity(nil, 42, "game.room.42", []byte("user-7"), protocol.Role_CLIENT, make([]byte, 100))},
	}
	for _, m := range msgs {
		b.Run(m.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(m.b)))
			for b.Loop() {
				if _, err := ParseTopic(m.b); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAppend(b *testing.B) {
	body := make([]byte, 100)
	identity := []byte("user-7")
	const topic = "game.room.42"
	encoders := []struct {
		name string
		f    func(dst []byte) []byte
	}{
		{"TopicFW", func(dst []byte) []byte { return AppendTopicFW(dst, 42, topic, body) }},
		{"Topic", func(dst []byte) []byte { return AppendTopic(dst, 42, topic, body) }},
		{"TopicIdentityFW", func(dst []byte) []byte {
			return AppendTopicIdentityFW(dst, 42, topic, identity, protocol.Role_CLIENT, body)
		}},
		{"TopicIdentity", func(dst []byte) []byte {
			return AppendTopicIdentity(dst, 42, topic, identity, protocol.Role_CLIENT, body)
		}},
	}
	for _, e := range encoders {
		// new: a fresh buffer per message, as the relay shares it between
		// queues; reuse: into a buffer the caller owns.
		b.Run(e.name+"/new", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = e.f(nil)
			}
		})
		b.Run(e.name+"/reuse", func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, 512)
			for b.Loop() {
				buf = e.f(buf[:0])
			}
		})
	}
}
