package coordinator

import (
	"slices"
	"testing"
	"time"
)

func TestWelcomeGivesEveryPeerAUniqueAlias(t *testing.T) {
	before := aliasSlotOf(time.Now()) << aliasRandomBits
	tc := startCoordinator(t, Config{}, Options{}, nil)

	seen := map[uint64]bool{}
	for _, dial := range []func(*testing.T, *testCoordinator) *testPeer{
		dialClient, dialServer, dialClient, dialHub, dialServer, dialClient,
	} {
		alias := dial(t, tc).welcome().GetAlias()
		if seen[alias] {
			t.Fatalf("alias %d handed out twice", alias)
		}
		seen[alias] = true
		if alias <= before {
			t.Errorf("alias %d does not start from the clock (%d): a restart would reuse aliases", alias, before)
		}
		if alias >= 1<<53 {
			t.Errorf("alias %d is not exact in a JavaScript number", alias)
		}
	}
}

func TestAliasesStayUniqueAcrossACoordinatorRestart(t *testing.T) {
	first := startCoordinator(t, Config{}, Options{}, nil)
	var old []uint64
	for range 3 {
		old = append(old, dialClient(t, first).welcome().GetAlias())
	}
	if err := first.stop(); err != nil {
		t.Fatalf("first coordinator: %v", err)
	}
	// No wait for the clock here: the restarted source waits for a slot of
	// its own by itself.
	second := startCoordinatorAt(t, first.addr, Config{}, Options{}, nil)
	for _, dial := range []func(*testing.T, *testCoordinator) *testPeer{dialClient, dialServer} {
		alias := dial(t, second).welcome().GetAlias()
		if alias <= slices.Max(old) {
			t.Fatalf("after restart got alias %d, not above the old ones %v", alias, old)
		}
	}
}

// fakeAliasClock is a clock that moves only when slept on or told to.
type fakeAliasClock struct{ t time.Time }

func (c *fakeAliasClock) clock() aliasClock {
	return aliasClock{now: func() time.Time { return c.t }, sleep: func(d time.Duration) { c.t = c.t.Add(max(d, 0)) }}
}

func TestAliasSourceLeavesRoomPerMillisecond(t *testing.T) {
	t0 := time.UnixMilli(1_800_000_000_000)
	cases := []struct {
		name   string
		issued int // aliases the first source hands out
		later  time.Duration
	}{
		{"one alias, restart 1ms later", 1, time.Millisecond},
		{"1023 aliases in the first millisecond", 1023, time.Millisecond},
		{"a full slot, restart 1ms later", aliasSlotCap, time.Millisecond},
		{"a million aliases over a second", 1_000_000, time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeAliasClock{t: t0}
			first := newAliasSource(clock.clock())
			var last uint64
			for range tc.issued {
				last = max(last, first.next())
			}
			clock.t = clock.t.Add(tc.later)
			if got := newAliasSource(clock.clock()).next(); got <= last {
				t.Fatalf("restarted source starts at %d, not above %d", got, last)
			}
		})
	}
}

func TestAliasesAreUniqueAndBelow2To53(t *testing.T) {
	// A clock that never moves: the source must run ahead of it, slot by
	// slot, rather than hand out an alias twice.
	clock := &fakeAliasClock{t: time.Date(2105, 12, 31, 0, 0, 0, 0, time.UTC)}
	a := newAliasSource(clock.clock())
	const n = 3*aliasSlotCap + 100
	seen := make(map[uint64]struct{}, n)
	slots := map[uint64]struct{}{}
	for range n {
		alias := a.next()
		if _, dup := seen[alias]; dup {
			t.Fatalf("alias %d handed out twice", alias)
		}
		if alias == 0 || alias >= 1<<53 {
			t.Fatalf("alias %d is 0 or not exact in a JavaScript number", alias)
		}
		seen[alias] = struct{}{}
		slots[alias>>aliasRandomBits] = struct{}{}
	}
	if len(slots) != 4 {
		t.Fatalf("%d aliases spread over %d slots, want 4 (a slot gives %d)", n, len(slots), aliasSlotCap)
	}
}

func TestAliasesAreNotSequential(t *testing.T) {
	a := newAliasSource(wallClock)
	const n = 2000
	prev := a.next()
	successors := 0
	low := map[uint64]struct{}{}
	for range n {
		alias := a.next()
		if alias == prev+1 {
			successors++
		}
		low[alias&(1<<aliasRandomBits-1)] = struct{}{}
		prev = alias
	}
	// Random 17-bit low parts: a successor is a 1-in-131072 event, and
	// 2000 draws from 131072 values repeat about 15 times.
	if successors > 2 {
		t.Errorf("%d of %d aliases were their predecessor plus one: guessable", successors, n)
	}
	if len(low) < n*9/10 {
		t.Errorf("%d aliases have only %d distinct low parts: not random", n, len(low))
	}
}
