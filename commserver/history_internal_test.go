package commserver

import (
	"testing"

	"github.com/webrtc-broker/webrtc-broker/core/history"
	"github.com/webrtc-broker/webrtc-broker/core/relay"
)

// BenchmarkPublishReliableHistory is the reliable relay path of one
// message to 2 clients and 1 server, with the queues drained after each: with
// no history rules, with rules that do not match the topic (one map lookup
// more), and on a history topic (numbered, stored in the ring). The first
// two must allocate what the relay always did (the two encoded copies);
// the third allocates the same, since the ring keeps the client copy.
func BenchmarkPublishReliableHistory(b *testing.B) {
	body := make([]byte, 100)
	rules := []history.Rule{{Pattern: "chat.*", Messages: 1000, Linger: 1}}
	for _, bc := range []struct {
		name  string
		rules []history.Rule
		topic string
	}{
		{"no history", nil, "t"},
		{"history, other topic", rules, "t"},
		{"history topic", rules, "chat.a"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			f := newRelayFixture(b, RoleServer, 3, 1)
			f.s.hist = newHistories(bc.rules, 0)
			for _, p := range f.clients {
				if f.s.hist != nil {
					f.s.hist.ensure([]string{bc.topic})
				}
				f.s.subs.SetClient(p, []string{bc.topic})
			}
			f.s.subs.SetServer(f.servers[0], []string{bc.topic})
			sender := f.clients[0]
			msg := relay.AppendTopic(nil, 0, bc.topic, body)
			ch := sender.chans[reliable]
			var batch [][]byte
			drain := func() {
				for _, p := range append(f.clients[1:], f.servers...) {
					batch = p.chans[reliable].q.Take(batch[:0])
					if len(batch) != 1 {
						b.Fatalf("peer %d got %d messages", p.alias, len(batch))
					}
				}
			}
			sender.handle(ch, msg)
			drain()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				sender.handle(ch, msg)
				drain()
			}
		})
	}
}

// TestStreamsRestartWhenMessagesMayBeLost: a lost server link and a NATS
// reconnection each start every stream in a new epoch, so that no recovery
// vouches for a replay with a hole in it.
func TestStreamsRestartWhenMessagesMayBeLost(t *testing.T) {
	f := newRelayFixture(t, RoleServer, 1, 1)
	f.s.hist = newHistories([]history.Rule{{Pattern: "chat.*", Messages: 10, Linger: 1}}, 0)
	f.s.hist.ensure([]string{"chat.a"})
	st := f.s.hist.lookup([]byte("chat.a"))
	epoch := func() uint64 { st.mu.Lock(); defer st.mu.Unlock(); return st.ring.Epoch() }
	before := epoch()
	f.s.busReconnected()
	afterBus := epoch()
	if afterBus == before {
		t.Fatal("a NATS reconnection kept the stream's epoch")
	}
	f.s.forget(f.servers[0])
	if epoch() == afterBus {
		t.Fatal("a lost server link kept the stream's epoch")
	}
}

// TestHistoryBytesBounded: each topic's history holds at most its rule's
// max_bytes, all of them together at most history_max_bytes (plus the one
// message the appending topic always keeps), and the total the metrics
// export is what the rings hold.
func TestHistoryBytesBounded(t *testing.T) {
	const perTopic, total = 10 << 10, 15 << 10
	f := newRelayFixture(t, RoleServer, 2, 0)
	rule, err := history.Rule{Pattern: "big.*", MaxBytes: perTopic, Linger: 1}.Check()
	if err != nil {
		t.Fatal(err)
	}
	f.s.hist = newHistories([]history.Rule{rule}, total)
	topics := []string{"big.a", "big.b"}
	f.s.hist.ensure(topics)
	f.s.subs.SetClient(f.clients[1], topics)
	sender := f.clients[0]
	body := make([]byte, 500)
	var batch [][]byte
	held := func() (sum, largest int) {
		for _, topic := range topics {
			st := f.s.hist.lookup([]byte(topic))
			st.mu.Lock()
			n := st.ring.Bytes()
			st.mu.Unlock()
			sum += n
			largest = max(largest, n)
		}
		return sum, largest
	}
	for i := range 200 {
		// One topic gets three messages for each of the other's.
		topic := topics[min(i%4, 1)]
		sender.handle(sender.chans[reliable], relay.AppendTopic(nil, 0, topic, body))
		batch = f.clients[1].chans[reliable].q.Take(batch[:0])
		if len(batch) != 1 {
			t.Fatalf("message %d: subscriber got %d", i, len(batch))
		}
		sum, largest := held()
		if got := f.s.hist.heldBytes(); got != int64(sum) {
			t.Fatalf("message %d: total %d, rings hold %d", i, got, sum)
		}
		if largest > perTopic || sum > total+len(batch[0]) {
			t.Fatalf("message %d: a ring holds %d (bound %d), all %d (bound %d)", i, largest, perTopic, sum, total)
		}
	}
	if sum, _ := held(); sum < total-2*len(batch[0]) {
		t.Fatalf("the rings hold %d, far below the bound %d: they drop more than they must", sum, total)
	}
}
