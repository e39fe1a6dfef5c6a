package presence

import (
	"fmt"
	"testing"
)

// The cost of one local join and leave in a topic of 10,000 members, as the
// server pays it: with the whole local list each time (Update, what the
// server did before Join and Leave), and incrementally (Join, Leave and
// Changes). members: the limit above the size, events list members;
// counts: the default limit (100), events carry counts only.
func BenchmarkJoinLeave10k(b *testing.B) {
	const n = 10000
	base := make([]Member, n)
	for i := range base {
		base[i] = mem(uint64(i + 1))
	}
	joiner := mem(n + 1)
	with := append(append([]Member(nil), base...), joiner)
	for _, limit := range []struct {
		name string
		max  int
	}{{"members", 2 * n}, {"counts", 100}} {
		b.Run(fmt.Sprintf("update/%s", limit.name), func(b *testing.B) {
			tb := New[string]()
			tb.SetRemote("room", 900, "l", Report{Members: []Member{mem(n + 100)}, Count: 1})
			tb.Update("room", base, limit.max)
			b.ReportAllocs()
			for b.Loop() {
				tb.Update("room", with, limit.max)
				tb.Update("room", base, limit.max)
			}
		})
		b.Run(fmt.Sprintf("incremental/%s", limit.name), func(b *testing.B) {
			tb := New[string]()
			tb.SetRemote("room", 900, "l", Report{Members: []Member{mem(n + 100)}, Count: 1})
			tb.Track("room", func() []Member { return base })
			tb.Changes("room", limit.max)
			b.ReportAllocs()
			for b.Loop() {
				tb.Join("room", joiner)
				if _, changed := tb.Changes("room", limit.max); !changed {
					b.Fatal("a join changed nothing")
				}
				tb.Leave("room", joiner.Alias)
				if _, changed := tb.Changes("room", limit.max); !changed {
					b.Fatal("a leave changed nothing")
				}
			}
		})
	}
}
