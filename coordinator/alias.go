package coordinator

import (
	crand "crypto/rand"
	"math/rand/v2"
	"sync"
	"time"
)

// aliasSource hands out peer aliases.
//
// Aliases must be unique for the life of the cluster, also across a
// coordinator restart: communication servers and clients keep their WebRTC
// peers, keyed by alias, while the coordinator is away, and a reused alias
// would make a new peer look like an old one. They must also not be
// guessable: with sequential aliases, anyone who saw their own knew the
// next peers'. And they must stay below 2^53, so that JavaScript clients,
// whose numbers are doubles, read them exactly.
//
// So an alias is slot<<aliasRandomBits | r: slot counts aliasSlot (1/16 s)
// of the Unix clock, r is aliasRandomBits (17) random bits from a ChaCha8
// stream seeded by crypto/rand, drawn again if already handed out in this
// slot. One who knows an alias and the time still has 1 in 131072 per slot
// of naming a peer. slot < 2^36 until the year 2106, so aliases stay below
// 2^53.
//
// Unique within a run: the r handed out in the current slot are remembered;
// once half of a slot's 2^17 are taken (a million aliases a second), the
// source moves to the next slot, ahead of the clock, and catches up later.
// Unique across restarts without state on disk: a source never hands out an
// alias in the slot it was created in (the first alias waits for the clock
// to leave it, at most 62.5 ms after start) nor in a slot before the
// clock's, so every alias of a restarted coordinator lies in a later slot
// than its predecessor's, as long as that one did not run ahead of the clock
// (over a million aliases a second on average) and the clock did not step
// back across the restart.
//
// Safe for concurrent use; mu guards the fields after it.
type aliasSource struct {
	clock aliasClock
	start uint64 // the slot the source was created in

	mu   sync.Mutex
	slot uint64              // the slot of the last alias
	used map[uint64]struct{} // the r handed out in slot
	rng  *rand.Rand
}

const (
	aliasSlot       = time.Second / 16
	aliasRandomBits = 17
	// aliasSlotCap is how many aliases one slot gives before the source
	// moves on: at half of the 2^17, a fresh r takes two draws at most on
	// average.
	aliasSlotCap = 1 << (aliasRandomBits - 1)
)

// aliasClock is the wall clock, and a way to wait for it (a fake in tests).
type aliasClock struct {
	now   func() time.Time
	sleep func(time.Duration)
}

var wallClock = aliasClock{now: time.Now, sleep: time.Sleep}

func newAliasSource(clock aliasClock) *aliasSource {
	var seed [32]byte
	_, _ = crand.Read(seed[:]) // never fails (crypto/rand.Read's contract)
	start := aliasSlotOf(clock.now())
	return &aliasSource{clock: clock, start: start, slot: start, used: map[uint64]struct{}{},
		rng: rand.New(rand.NewChaCha8(seed))}
}

func aliasSlotOf(t time.Time) uint64 { return uint64(t.UnixNano() / int64(aliasSlot)) }

// next returns a new alias, never 0 (0 means "unset" on the wire).
func (a *aliasSource) next() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := aliasSlotOf(a.clock.now())
	for now <= a.start {
		// Only in the source's first slot: every caller would wait anyway.
		a.clock.sleep(time.Unix(0, int64(a.start+1)*int64(aliasSlot)).Sub(a.clock.now()))
		now = aliasSlotOf(a.clock.now())
	}
	switch {
	case now > a.slot:
		a.slot = now
		clear(a.used)
	case len(a.used) >= aliasSlotCap:
		a.slot++
		clear(a.used)
	}
	for {
		r := a.rng.Uint64() & (1<<aliasRandomBits - 1)
		if _, taken := a.used[r]; !taken {
			a.used[r] = struct{}{}
			return a.slot<<aliasRandomBits | r
		}
	}
}
