package commserver

import (
	"strings"
	"testing"

	"github.com/webrtc-broker/webrtc-broker/core/relay"
)

// BenchmarkCellMove is the cost of one cell change, the work a position
// update adds when it crosses a cell boundary (cell 16, radius 64: 81
// interest cells): the grid's move, the client's new subscription set and
// its table update (move), and, when the server has server links, the
// announcement the move makes the announce loop recompute: the union of
// every client's topics (announce; 500 clients spread in 1,000 x 1,000,
// the density). The loop coalesces: under many moves it runs once
// per wake-up, not once per move.
func BenchmarkCellMove(b *testing.B) {
	b.Run("move", func(b *testing.B) {
		f := worldFixture(b, 64, 0)
		for i, p := range f.clients {
			place(b, p, at(float32(i*4), 0))
		}
		p := f.clients[10]
		there := [2][]byte{
			relay.AppendTopicAt(nil, 0, "w.a", nil, at(40, 8)), // cell (2, 0)
			relay.AppendTopicAt(nil, 0, "w.a", nil, at(56, 8)), // cell (3, 0)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			p.handle(p.chans[reliable], there[i&1])
			i++
		}
	})
	b.Run("announce", func(b *testing.B) {
		f := worldFixture(b, 500, 0)
		for i, p := range f.clients {
			place(b, p, at(float32((i*7919)%1000), float32((i*104729)%1000)))
		}
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			n = len(strings.Join(withOwn(f.s.subs.ClientTopics(), nil), " "))
		}
		b.ReportMetric(float64(len(f.s.subs.ClientTopics())), "topics")
		_ = n
	})
}
