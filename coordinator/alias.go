package coordinator

import (
	"sync/atomic"
	"time"
)

// aliasSource hands out peer aliases.
//
// Aliases must be unique for the life of the cluster, also across a
// coordinator restart: communication servers and clients keep their WebRTC
// peers, keyed by alias, while the coordinator is away, and a reused alias
// would make a new peer look like an old one. The coordinator keeps no state
// on disk, so the count starts from the wall clock instead of from 1: the
// first alias is UnixMilli()<<10 + 1 and each next one is one more. A
// restarted coordinator therefore starts above every alias its predecessor
// gave out, as long as that one gave out fewer than 1024 aliases per
// millisecond of its life on average (a million a second) and the clock did
// not step back across the restart. The values stay below 2^53 until the
// year 2248, so JavaScript clients, whose numbers are doubles, read them
// exactly.
//
// Safe for concurrent use.
type aliasSource struct {
	last atomic.Uint64
}

// aliasClockShift is how many aliases per millisecond of the clock are
// reserved (1<<10 = 1024).
const aliasClockShift = 10

func newAliasSource(now time.Time) *aliasSource {
	a := &aliasSource{}
	a.last.Store(uint64(now.UnixMilli()) << aliasClockShift)
	return a
}

// next returns a new alias, never 0 (0 means "unset" on the wire).
func (a *aliasSource) next() uint64 { return a.last.Add(1) }
