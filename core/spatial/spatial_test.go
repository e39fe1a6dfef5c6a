package spatial

import (
	"math"
	"slices"
	"sync"
	"testing"

	"github.com/webrtc-broker/webrtc-broker/core/relay"
)

var lobby = Config{Cell: 16, Radius: 64, Every: DefaultEvery}

func pos(x, y float32) relay.Position { return relay.Position{X: x, Y: y} }

func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"the issue's example", lobby, true},
		{"zero cell", Config{Radius: 1, Every: DefaultEvery}, false},
		{"negative radius", Config{Cell: 1, Radius: -1, Every: DefaultEvery}, false},
		{"NaN cell", Config{Cell: math.NaN(), Radius: 1, Every: DefaultEvery}, false},
		{"infinite radius", Config{Cell: 1, Radius: math.Inf(1), Every: DefaultEvery}, false},
		{"radius of 33 cells", Config{Cell: 1, Radius: 33, Every: DefaultEvery}, false},
		{"radius of 32 cells", Config{Cell: 1, Radius: 32, Every: DefaultEvery}, true},
		{"rate 0", Config{Cell: 1, Radius: 1, Every: [3]int{1, 0, 4}}, false},
		{"cell too small for the coordinates", Config{Cell: 0.1, Radius: 1, Every: DefaultEvery}, false},
	}
	for _, tt := range tests {
		if err := tt.cfg.Check(); (err == nil) != tt.ok {
			t.Errorf("%s: Check = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}

func TestValid(t *testing.T) {
	tests := []struct {
		p  relay.Position
		ok bool
	}{
		{pos(0, 0), true},
		{pos(-1e9, 1e9), true},
		{pos(2e9, 0), false},
		{relay.Position{Z: float32(math.NaN())}, false},
		{relay.Position{Y: float32(math.Inf(-1))}, false},
	}
	for _, tt := range tests {
		if Valid(tt.p) != tt.ok {
			t.Errorf("Valid(%+v) = %v", tt.p, !tt.ok)
		}
	}
}

func TestCellOf(t *testing.T) {
	tests := []struct {
		p    relay.Position
		want Cell
	}{
		{pos(0, 0), Cell{0, 0}},
		{pos(15.99, 16), Cell{0, 1}},
		{pos(-0.01, -16), Cell{-1, -1}},
		{pos(-16.01, 1000), Cell{-2, 62}},
		{relay.Position{X: 1, Y: 1, Z: 1e6}, Cell{0, 0}}, // z does not pick the cell
	}
	for _, tt := range tests {
		if got := lobby.CellOf(tt.p); got != tt.want {
			t.Errorf("CellOf(%+v) = %v, want %v", tt.p, got, tt.want)
		}
	}
}

func TestInterest(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		c    Cell
		want []Cell
	}{
		{"radius of one cell: neighbours and their neighbours but the far corners",
			Config{Cell: 10, Radius: 10, Every: DefaultEvery}, Cell{0, 0},
			[]Cell{
				{-1, -2}, {0, -2}, {1, -2},
				{-2, -1}, {-1, -1}, {0, -1}, {1, -1}, {2, -1},
				{-2, 0}, {-1, 0}, {0, 0}, {1, 0}, {2, 0},
				{-2, 1}, {-1, 1}, {0, 1}, {1, 1}, {2, 1},
				{-1, 2}, {0, 2}, {1, 2},
			}},
		{"a tiny radius: the cell and its neighbours", Config{Cell: 10, Radius: 1, Every: DefaultEvery}, Cell{5, -5},
			[]Cell{{4, -6}, {5, -6}, {6, -6}, {4, -5}, {5, -5}, {6, -5}, {4, -4}, {5, -4}, {6, -4}}},
	}
	for _, tt := range tests {
		got := tt.cfg.Interest(tt.c, nil)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: Interest = %v, want %v", tt.name, got, tt.want)
		}
	}
	// Every point within the radius of any point of the cell is in a cell
	// of the interest.
	c := Cell{7, -4}
	cells := lobby.Interest(c, nil)
	if len(cells) < 69 || len(cells) > 121 {
		t.Fatalf("%d cells for a radius of 4 cells", len(cells))
	}
	for sx := float32(0.5); sx < 16; sx += 5 {
		for sy := float32(0.5); sy < 16; sy += 5 {
			p := pos(7*16+sx, -4*16+sy)
			for x := float32(-70); x <= 70; x += 1.7 {
				for y := float32(-70); y <= 70; y += 1.7 {
					q := pos(p.X+x, p.Y+y)
					if lobby.Rate(q, p) > 0 && !slices.Contains(cells, lobby.CellOf(q)) {
						t.Fatalf("%+v is within the radius of %+v but its cell %v is not in the interest", q, p, lobby.CellOf(q))
					}
				}
			}
		}
	}
}

func TestRate(t *testing.T) {
	tests := []struct {
		d    float32
		want int
	}{
		{0, 1}, {16, 1}, {16.01, 2}, {32, 2}, {32.01, 4}, {64, 4}, {64.01, 0}, {1000, 0},
	}
	for _, tt := range tests {
		if got := lobby.Rate(pos(10, 10), pos(10+tt.d, 10)); got != tt.want {
			t.Errorf("distance %v: Rate = %d, want %d", tt.d, got, tt.want)
		}
	}
	// Distance is in three dimensions.
	if got := lobby.Rate(relay.Position{}, relay.Position{Z: 65}); got != 0 {
		t.Errorf("65 above: Rate = %d, want 0", got)
	}
	custom := Config{Cell: 16, Radius: 64, Every: [3]int{2, 3, 10}}
	if got := custom.Rate(pos(0, 0), pos(40, 0)); got != 10 {
		t.Errorf("custom rates: %d, want 10", got)
	}
}

func TestCellTopics(t *testing.T) {
	tests := []struct {
		world string
		c     Cell
		topic string
	}{
		{"world.lobby", Cell{3, -1}, "world.lobby.cell.3.-1"},
		{"w", Cell{0, 0}, "w.cell.0.0"},
		{"a.cell.b", Cell{math.MaxInt32, math.MinInt32}, "a.cell.b.cell.2147483647.-2147483648"},
	}
	for _, tt := range tests {
		if got := CellTopic(tt.world, tt.c); got != tt.topic {
			t.Errorf("CellTopic = %q, want %q", got, tt.topic)
		}
		w, c, ok := ParseCellTopic([]byte(tt.topic))
		if !ok || string(w) != tt.world || c != tt.c {
			t.Errorf("ParseCellTopic(%q) = %q, %v, %v", tt.topic, w, c, ok)
		}
		if !IsCellTopic(tt.topic) {
			t.Errorf("IsCellTopic(%q) = false", tt.topic)
		}
	}
	for _, bad := range []string{"world.lobby", ".cell.1.2", "w.cell.1", "w.cell.1.2.3", "w.cell.01.2", "w.cell.-0.2",
		"w.cell.1.+2", "w.cell.2147483648.0", "w.cell..1", "w.cell.1.", "w.cell.x.1"} {
		if _, _, ok := ParseCellTopic([]byte(bad)); ok {
			t.Errorf("ParseCellTopic(%q) accepted", bad)
		}
	}
}

func TestGrid(t *testing.T) {
	g := NewGrid[string](lobby)
	if g.Move("stranger", pos(1, 1)) {
		t.Fatal("Move of a non-member changed an interest")
	}
	if _, ok := g.Pos("stranger"); ok {
		t.Fatal("a non-member has a position")
	}
	if !g.Join("a") || g.Join("a") {
		t.Fatal("Join: want true, then false")
	}
	if _, ok := g.Pos("a"); ok {
		t.Fatal("a member has a position before it published one")
	}
	if got := g.Interest("a", nil); len(got) != 0 {
		t.Fatalf("interest %v before a position", got)
	}
	steps := []struct {
		p       relay.Position
		changed bool
	}{
		{pos(1, 1), true},    // first position
		{pos(15, 15), false}, // same cell
		{pos(17, 15), true},  // next cell
		{relay.Position{X: 17, Y: 15, Z: 9}, false},
	}
	for i, st := range steps {
		if got := g.Move("a", st.p); got != st.changed {
			t.Fatalf("step %d: Move = %v, want %v", i, got, st.changed)
		}
		if p, ok := g.Pos("a"); !ok || p != st.p {
			t.Fatalf("step %d: Pos = %+v, %v", i, p, ok)
		}
		if got, want := g.Interest("a", nil), lobby.Interest(lobby.CellOf(st.p), nil); !slices.Equal(got, want) {
			t.Fatalf("step %d: Interest = %v, want %v", i, got, want)
		}
	}
	g.Join("b")
	g.Move("b", pos(1000, 1000))
	if got, n := len(g.Cells()), 2*len(lobby.Interest(Cell{}, nil)); got != n {
		t.Fatalf("Cells holds %d, want the two disjoint interests' %d", got, n)
	}
	if g.Len() != 2 || !g.Leave("a") || g.Leave("a") || g.Len() != 1 {
		t.Fatal("Leave/Len disagree")
	}
	if _, ok := g.Pos("a"); ok {
		t.Fatal("a left member kept its position")
	}
}

func TestSenders(t *testing.T) {
	var s Senders
	for want := range uint64(5) {
		if got := s.Next(7); got != want {
			t.Fatalf("Next = %d, want %d", got, want)
		}
	}
	if s.Next(8) != 0 {
		t.Fatal("senders share a count")
	}
	s.Forget(7)
	if s.Next(7) != 0 {
		t.Fatal("Forget kept the count")
	}
	// Bounded: many senders start the shards over instead of growing.
	for a := range uint64(4 * maxSenders) {
		s.Next(a + 100)
	}
	n := 0
	for i := range s.shards {
		n += len(s.shards[i].next)
	}
	if n > maxSenders {
		t.Fatalf("%d senders kept, bound %d", n, maxSenders)
	}
	// Concurrent senders each count on (race detector).
	var wg sync.WaitGroup
	for a := range uint64(8) {
		wg.Go(func() {
			for range 100 {
				s.Next(1<<40 + a)
			}
		})
	}
	wg.Wait()
	if got := s.Next(1 << 40); got != 100 {
		t.Fatalf("after 100 concurrent: %d", got)
	}
	if n := testing.AllocsPerRun(100, func() { s.Next(1 << 40) }); n != 0 {
		t.Fatalf("Next allocates %v", n)
	}
}
