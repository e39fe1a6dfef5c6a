package coordinator

import (
	crand "crypto/rand"
	"fmt"
	"math/bits"
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
// So an alias is slot<<aliasRandomBits | r<<k | id: slot counts aliasSlot
// (1/16 s) of the Unix clock; the low k bits are the coordinator's id
// (coordinator.id), k being the bits coordinator.count needs (0 for one
// coordinator, 1 for two, 2 for up to four, ... 4 for up to 16); r is the
// other aliasRandomBits-k (17-k) bits, random from a ChaCha8 stream seeded
// by crypto/rand, drawn again if already handed out in this slot. One who
// knows an alias and the time still has 1 in 2^(17-k) per slot of naming a
// peer (131072 with one coordinator, 32768 with four). slot < 2^36 until
// the year 2106, so aliases stay below 2^53.
//
// Unique across coordinators: the id bits partition the alias space, so two
// coordinators of one cluster can never hand out the same alias, whatever
// their clocks. Random aliases alone would not do: two coordinators drawing
// 17 random bits in the same slot, each at 100 joins a second (6.25 a
// slot), collide with probability 6.25²/2^17 ≈ 3·10⁻⁴ a slot, that is about
// once every three minutes. Every coordinator of a cluster must have the
// same coordinator.count and a different coordinator.id; the count may be
// larger than the coordinators running (room to add some). Changing the
// count changes k, so do it by stopping every coordinator and then starting
// them all with the new count (live peers are not affected: see README),
// never one by one: a coordinator with the old k and one with the new could
// meet in the same slot.
//
// Unique within a run: the r handed out in the current slot are remembered;
// once half of a slot's 2^(17-k) are taken (a million aliases a second with
// one coordinator), the source moves to the next slot, ahead of the clock,
// and catches up later. Unique across restarts without state on disk: a
// source never hands out an alias in the slot it was created in (the first
// alias waits for the clock to leave it, at most 62.5 ms after start) nor
// in a slot before the clock's, so every alias of a restarted coordinator
// lies in a later slot than its predecessor's, as long as that one did not
// run ahead of the clock and the clock did not step back across the
// restart.
//
// A communication server registered at several coordinators keeps one alias
// at all of them: the first coordinator draws it and the server proposes it
// to the others (claim), which accept it because it lies in another
// coordinator's partition, or in their own and in a slot they are past.
//
// Safe for concurrent use; mu guards the fields after it.
type aliasSource struct {
	clock aliasClock
	start uint64 // the slot the source was created in
	// id and idBits are the partition: the low idBits bits of every alias
	// this source hands out are id; count is coordinator.count.
	id, idBits, count uint64

	mu   sync.Mutex
	slot uint64              // the slot of the last alias
	used map[uint64]struct{} // the r handed out in slot
	rng  *rand.Rand
}

const (
	aliasSlot       = time.Second / 16
	aliasRandomBits = 17
	// aliasSlotCap is how many aliases one slot gives before a source with
	// one coordinator moves on: at half of the 2^17, a fresh r takes two
	// draws at most on average. A partitioned source's cap is smaller by
	// the partition's bits (slotCap).
	aliasSlotCap = 1 << (aliasRandomBits - 1)
	// maxCoordinators bounds coordinator.count: 16 takes 4 of the 17 bits
	// and leaves 1 in 8192 per slot to a guesser.
	maxCoordinators = 16
	// maxAlias is the first alias a JavaScript number cannot hold exactly.
	maxAlias = 1 << 53
)

// aliasClock is the wall clock, and a way to wait for it (a fake in tests).
type aliasClock struct {
	now   func() time.Time
	sleep func(time.Duration)
}

var wallClock = aliasClock{now: time.Now, sleep: time.Sleep}

// newAliasSource is the source of a lone coordinator (id 0 of 1).
func newAliasSource(clock aliasClock) *aliasSource {
	a, _ := newPartitionedAliasSource(clock, 0, 1) // 0 of 1 is valid
	return a
}

// newPartitionedAliasSource is the source of coordinator id of count.
func newPartitionedAliasSource(clock aliasClock, id, count int) (*aliasSource, error) {
	if err := checkPartition(id, count); err != nil {
		return nil, err
	}
	var seed [32]byte
	_, _ = crand.Read(seed[:]) // never fails (crypto/rand.Read's contract)
	start := aliasSlotOf(clock.now())
	return &aliasSource{clock: clock, start: start, slot: start, used: map[uint64]struct{}{},
		id: uint64(id), idBits: partitionBits(count), count: uint64(count),
		rng: rand.New(rand.NewChaCha8(seed))}, nil
}

// checkPartition validates coordinator.id and coordinator.count.
func checkPartition(id, count int) error {
	if count < 1 || count > maxCoordinators {
		return fmt.Errorf("coordinator.count %d: %w", count, errBadCount)
	}
	if id < 0 || id >= count {
		return fmt.Errorf("coordinator.id %d with coordinator.count %d: %w", id, count, errBadID)
	}
	return nil
}

// partitionBits is how many low bits of an alias name its coordinator.
func partitionBits(count int) uint64 { return uint64(bits.Len(uint(count - 1))) }

func aliasSlotOf(t time.Time) uint64 { return uint64(t.UnixNano() / int64(aliasSlot)) }

// slotCap is how many aliases the source gives per slot before moving on.
func (a *aliasSource) slotCap() int { return 1 << (aliasRandomBits - a.idBits - 1) }

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
	case len(a.used) >= a.slotCap():
		a.slot++
		clear(a.used)
	}
	for {
		r := a.rng.Uint64() & (1<<(aliasRandomBits-a.idBits) - 1)
		if _, taken := a.used[r]; !taken {
			a.used[r] = struct{}{}
			return a.slot<<aliasRandomBits | r<<a.idBits | a.id
		}
	}
}

// claim accepts alias, proposed by a communication server that holds it at
// another coordinator (or held it here before a restart), and makes sure this
// source never hands it out. An alias of another coordinator's partition is
// that coordinator's to keep unique; one of this partition must lie in a
// slot the source has reached (one from its future it never drew, and
// might draw later), and is marked used if it lies in the current slot.
func (a *aliasSource) claim(alias uint64) error {
	if alias == 0 || alias >= maxAlias {
		return fmt.Errorf("alias %d: %w", alias, errBadAlias)
	}
	mask := uint64(1)<<a.idBits - 1
	switch part := alias & mask; {
	case part >= a.count:
		return fmt.Errorf("alias %d: partition %d: %w", alias, part, errNoPartition)
	case part != a.id:
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	slot := alias >> aliasRandomBits
	switch {
	case slot > a.slot:
		return fmt.Errorf("alias %d: %w", alias, errFutureAlias)
	case slot == a.slot:
		a.used[(alias&(1<<aliasRandomBits-1))>>a.idBits] = struct{}{}
	}
	return nil
}
