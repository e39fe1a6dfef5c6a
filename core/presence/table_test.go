package presence

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/protocol"
)

func mem(alias uint64) Member {
	return Member{Alias: alias, Identity: []byte{byte(alias)}, Role: protocol.Role_CLIENT}
}

func aliases(ms []Member) []uint64 {
	var out []uint64
	for _, m := range ms {
		out = append(out, m.Alias)
	}
	return out
}

// TestTableUpdate walks a topic through local and remote changes, a lost
// link and the counts-only threshold, checking each event.
func TestTableUpdate(t *testing.T) {
	type step struct {
		name       string
		do         func(tb *Table[string])
		local      []Member
		changed    bool
		snapshot   bool
		joined     []uint64
		left       []uint64
		count      int
		countsOnly bool
	}
	const max = 4
	steps := []step{
		{name: "first view is a snapshot", do: func(*Table[string]) {}, local: []Member{mem(1)}, changed: true, snapshot: true, count: 1},
		{name: "nothing changed", do: func(*Table[string]) {}, local: []Member{mem(1)}, changed: false, count: 1},
		{name: "local join", do: func(*Table[string]) {}, local: []Member{mem(1), mem(2)}, changed: true, joined: []uint64{2}, count: 2},
		{name: "remote report", do: func(tb *Table[string]) {
			tb.SetRemote("room", 900, "linkA", Report{Members: []Member{mem(10), mem(11)}, Count: 2})
		}, local: []Member{mem(1), mem(2)}, changed: true, joined: []uint64{10, 11}, count: 4},
		{name: "remote leave and local leave", do: func(tb *Table[string]) {
			tb.SetRemote("room", 900, "linkA", Report{Members: []Member{mem(11)}, Count: 1})
		}, local: []Member{mem(2)}, changed: true, left: []uint64{1, 10}, count: 2},
		{name: "second origin over the size", do: func(tb *Table[string]) {
			tb.SetRemote("room", 901, "linkB", Report{Members: []Member{mem(20), mem(21), mem(22)}, Count: 3})
		}, local: []Member{mem(2)}, changed: true, count: 5, countsOnly: true},
		{name: "count unchanged", do: func(*Table[string]) {}, local: []Member{mem(2)}, changed: false, count: 5, countsOnly: true},
		{name: "a remote counts-only report", do: func(tb *Table[string]) {
			tb.SetRemote("room", 901, "linkB", Report{CountsOnly: true, Count: 1000})
		}, local: []Member{mem(2)}, changed: true, count: 1002, countsOnly: true},
		{name: "link lost: back under, snapshot", do: func(tb *Table[string]) {
			if got := tb.DropVia("linkB"); !slices.Equal(got, []string{"room"}) {
				t.Fatalf("DropVia touched %v", got)
			}
		}, local: []Member{mem(2)}, changed: true, snapshot: true, count: 2},
	}
	tb := New[string]()
	for _, s := range steps {
		s.do(tb)
		ev, changed := tb.Update("room", s.local, max)
		if changed != s.changed || ev.Snapshot != s.snapshot || ev.Count != s.count || ev.CountsOnly != s.countsOnly ||
			!slices.Equal(aliases(ev.Joined), s.joined) || !slices.Equal(aliases(ev.Left), s.left) {
			t.Fatalf("%s: event %+v changed %v; want changed %v snapshot %v joined %v left %v count %d countsOnly %v",
				s.name, ev, changed, s.changed, s.snapshot, s.joined, s.left, s.count, s.countsOnly)
		}
	}
	snap := tb.Snapshot("room", []Member{mem(2)}, max)
	if !snap.Snapshot || !slices.Equal(aliases(snap.Members), []uint64{2, 11}) {
		t.Fatalf("snapshot %+v", snap)
	}
	tb.SetRemoteAt("room", 902, "bus", Report{Members: []Member{mem(30)}, Count: 1}, time.Unix(100, 0))
	if got := tb.ExpireBefore(time.Unix(99, 0)); len(got) != 0 {
		t.Fatalf("expired early: %v", got)
	}
	if got := tb.ExpireBefore(time.Unix(101, 0)); !slices.Equal(got, []string{"room"}) {
		t.Fatalf("ExpireBefore touched %v", got)
	}
	if snap := tb.Snapshot("room", nil, max); !slices.Equal(aliases(snap.Members), []uint64{11}) {
		t.Fatalf("after expiry: %+v", snap)
	}
	tb.Drop("room")
	if len(tb.Topics()) != 0 {
		t.Fatalf("topics after Drop: %v", tb.Topics())
	}
}

func TestReportRoundTrip(t *testing.T) {
	local := []Member{mem(1), mem(2)}
	for _, max := range []int{10, 1} {
		b, err := EncodeReport("room", local, max)
		if err != nil {
			t.Fatal(err)
		}
		r, err := DecodeReport("room", b)
		if err != nil {
			t.Fatal(err)
		}
		if r.Count != 2 || r.CountsOnly != (max < 2) || (!r.CountsOnly && !slices.Equal(aliases(r.Members), []uint64{1, 2})) {
			t.Fatalf("max %d: report %+v", max, r)
		}
		if _, err := DecodeReport("other", b); err == nil {
			t.Fatal("a report about another topic was accepted")
		}
	}
}

// FuzzDecodeReport: any body decodes to a report or an error, never a
// panic, and an accepted report is consistent.
func FuzzDecodeReport(f *testing.F) {
	b, _ := EncodeReport("room", []Member{mem(1)}, 10)
	f.Add(b)
	b, _ = EncodeReport("room", []Member{mem(1), mem(2)}, 1)
	f.Add(b)
	f.Add([]byte{0x08, 0x13})
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := DecodeReport("room", body)
		if err != nil {
			return
		}
		if !r.CountsOnly && r.Count != len(r.Members) {
			t.Fatalf("report %+v: count is not the members'", r)
		}
	})
}

// TestTableIncrementalMatchesUpdate: random local joins and leaves and
// remote reports, told through Join, Leave and Changes, give exactly the
// events that recomputing from the whole local list (Update) gives, and
// Current is Snapshot.
func TestTableIncrementalMatchesUpdate(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, max := range []int{6, 1000} {
		inc, full := New[string](), New[string]()
		local := map[uint64]Member{}
		list := func() []Member {
			out := make([]Member, 0, len(local))
			for _, m := range local {
				out = append(out, m)
			}
			return out
		}
		inc.Track("room", list)
		for i := range 3000 {
			switch r := rng.IntN(10); {
			case r < 4:
				m := mem(uint64(rng.IntN(12) + 1))
				if rng.IntN(8) == 0 {
					m.Role = protocol.Role_UNKNOWN_ROLE // the same alias, other credentials
				}
				local[m.Alias] = m
				inc.Join("room", m)
			case r < 8:
				a := uint64(rng.IntN(12) + 1)
				delete(local, a)
				inc.Leave("room", a)
			default:
				var rep Report
				if rng.IntN(5) == 0 {
					rep = Report{CountsOnly: true, Count: rng.IntN(4)}
				} else {
					for a := range uint64(rng.IntN(4)) {
						rep.Members = append(rep.Members, mem(a*3+uint64(rng.IntN(3))+1)) // may overlap local
					}
					rep.Count = len(rep.Members)
				}
				origin := uint64(900 + rng.IntN(2))
				inc.SetRemote("room", origin, "l", rep)
				full.SetRemote("room", origin, "l", rep)
			}
			got, gotChanged := inc.Changes("room", max)
			want, wantChanged := full.Update("room", list(), max)
			if gotChanged != wantChanged || got.Snapshot != want.Snapshot || got.Count != want.Count || got.CountsOnly != want.CountsOnly ||
				!slices.Equal(aliases(got.Joined), aliases(want.Joined)) || !slices.Equal(aliases(got.Left), aliases(want.Left)) ||
				!slices.Equal(aliases(got.Members), aliases(want.Members)) {
				t.Fatalf("max %d, step %d: incremental %+v (changed %v), recomputed %+v (changed %v)", max, i, got, gotChanged, want, wantChanged)
			}
			if c, s := inc.Current("room", max), full.Snapshot("room", list(), max); c.Count != s.Count || c.CountsOnly != s.CountsOnly ||
				!slices.Equal(aliases(c.Members), aliases(s.Members)) {
				t.Fatalf("max %d, step %d: Current %+v, Snapshot %+v", max, i, c, s)
			}
			if n := inc.LocalCount("room"); n != len(local) {
				t.Fatalf("LocalCount %d, want %d", n, len(local))
			}
		}
	}
}

// TestJoinIgnoresAnUntrackedTopic: the table learns a topic's local members
// from Track, not from the joins before it.
func TestJoinIgnoresAnUntrackedTopic(t *testing.T) {
	tb := New[string]()
	tb.Join("room", mem(1))
	tb.Track("room", func() []Member { return []Member{mem(1), mem(2)} })
	tb.Track("room", func() []Member { t.Fatal("Track walked a tracked topic again"); return nil })
	if ev, _ := tb.Changes("room", 10); !ev.Snapshot || !slices.Equal(aliases(ev.Members), []uint64{1, 2}) {
		t.Fatalf("first event %+v", ev)
	}
}
