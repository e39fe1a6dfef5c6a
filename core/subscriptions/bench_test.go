package subscriptions

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
)

// publishers is how many goroutines publish at once in the parallel
// benchmarks, whatever GOMAXPROCS is: a server has one read loop per
// channel, so the number of publishers is set by its peers, not its cores.
const publishers = 8

// benchPeer stands for the server's *peer.
type benchPeer struct{ _ [64]byte }

// publishTable builds what a busy server holds: topics topics, each with
// perTopic clients (each also on a topic of its own, so that client sets
// are not all alike) and two servers.
func publishTable(topics, perTopic int) (*Table[*benchPeer], [][]byte) {
	tbl := New[*benchPeer]()
	names := make([][]byte, topics)
	for i := range names {
		name := fmt.Sprintf("game.room.%d", i)
		names[i] = []byte(name)
		for j := range perTopic {
			tbl.SetClient(&benchPeer{}, []string{name, fmt.Sprintf("own.%d.%d", i, j)})
		}
	}
	all := make([]string, topics)
	for i, n := range names {
		all[i] = string(n)
	}
	tbl.SetServer(&benchPeer{}, all)
	tbl.SetServer(&benchPeer{}, all)
	return tbl, names
}

// BenchmarkPublishLookup is the table's share of relaying one message, as
// commserver's publish does it: from the parsed topic (a view into the read
// buffer) to the table's own topic string and both subscriber lists, with
// publishers goroutines at once. ns/op is wall time per message over all
// goroutines, so throughput scales if it falls as -cpu grows.
//
// topics=1: every publisher on one hot topic; topics=1024: spread out.
// churn: each publisher also replaces a client's set every 256 messages
// (subscription changes take the write lock).
func BenchmarkPublishLookup(b *testing.B) {
	for _, bc := range []struct {
		topics int
		churn  bool
	}{{1, false}, {1024, false}, {1024, true}} {
		name := fmt.Sprintf("topics=%d", bc.topics)
		if bc.churn {
			name += "/churn"
		}
		b.Run(name, func(b *testing.B) {
			tbl, names := publishTable(bc.topics, 10)
			var next atomic.Int64
			b.SetParallelism(max(1, publishers/runtime.GOMAXPROCS(0)))
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				g := int(next.Add(1))
				own := &benchPeer{}
				sets := [2][]string{{"churn.a", string(names[0])}, {"churn.b", string(names[0])}}
				var sink, n int
				for i := g * 7919; pb.Next(); i++ {
					n++
					topic, clients, servers := publishLookup(tbl, names[i%len(names)])
					sink += len(topic) + len(clients) + len(servers)
					if bc.churn && i%256 == 0 {
						tbl.SetClient(own, sets[i/256%2])
					}
				}
				if n > 0 && sink == 0 {
					b.Error("no subscribers found")
				}
			})
		})
	}
}

// publishLookup is the lookup commserver's publish makes per message.
func publishLookup(tbl *Table[*benchPeer], topic []byte) (string, []*benchPeer, []*benchPeer) {
	subs, _ := tbl.Lookup(topic)
	return subs.Topic, subs.Clients, subs.Servers
}
