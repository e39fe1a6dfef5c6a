package spatial

import (
	"slices"
	"sync"

	"github.com/webrtc-broker/webrtc-broker/core/relay"
)

// Grid is one world's subscribers on one server: who is a member (subscribes
// to the world), each member's last position and the cells it is interested
// in. The cell -> subscribers index is not here: the caller puts each
// member's interest cells, as cell topics, in its subscription table, which
// then also tells other servers (see the package doc).
//
// A member that has never published a position has none, and gets nothing
// from the world until it does: the server cannot tell what is near it, and
// "everything" would make it interested in every cell of the cluster.
//
// # Locks
//
// Grid.mu guards members (the map); each member's mu guards its position and
// cells. Order: Grid.mu, then a member's mu. Both are leaves: no caller code
// runs under them. Move and Pos, once per message, hold Grid.mu for reading
// only, so that the read loops of many senders do not queue on one lock.
type Grid[K comparable] struct {
	cfg Config // read-only

	mu      sync.RWMutex
	members map[K]*member
}

type member struct {
	mu       sync.Mutex
	pos      relay.Position
	placed   bool // pos is set
	cell     Cell
	interest []Cell // Config.Interest(cell), recomputed when cell changes
}

// NewGrid returns an empty grid of cfg's geometry (checked by the caller).
func NewGrid[K comparable](cfg Config) *Grid[K] {
	return &Grid[K]{cfg: cfg, members: make(map[K]*member)}
}

// Config returns the grid's geometry.
func (g *Grid[K]) Config() Config { return g.cfg }

// Join makes k a member (it subscribes to the world), without a position;
// false if it already was one.
func (g *Grid[K]) Join(k K) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.members[k]; ok {
		return false
	}
	g.members[k] = &member{}
	return true
}

// Leave forgets k and its position; false if it was not a member.
func (g *Grid[K]) Leave(k K) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.members[k]; !ok {
		return false
	}
	delete(g.members, k)
	return true
}

// Len returns how many members the grid has.
func (g *Grid[K]) Len() int {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return len(g.members)
}

// Move records p (a Valid position) as member k's position. It reports
// whether k's interest changed (its first position, or a new cell), when the
// caller brings its subscription up to date with Interest. A k that is not
// a member is ignored (false): a sender that does not subscribe has no
// interest, only positions on its messages.
func (g *Grid[K]) Move(k K, p relay.Position) (interestChanged bool) {
	g.mu.RLock()
	m := g.members[k]
	g.mu.RUnlock()
	if m == nil {
		return false
	}
	cell := g.cfg.CellOf(p)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pos = p
	if m.placed && m.cell == cell {
		return false
	}
	m.placed, m.cell = true, cell
	m.interest = g.cfg.Interest(cell, m.interest[:0])
	return true
}

// Pos returns member k's last position; false if k is not a member or has
// not published one.
func (g *Grid[K]) Pos(k K) (relay.Position, bool) {
	g.mu.RLock()
	m := g.members[k]
	g.mu.RUnlock()
	if m == nil {
		return relay.Position{}, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pos, m.placed
}

// Interest appends to dst the cells member k is interested in (none before
// its first position).
func (g *Grid[K]) Interest(k K, dst []Cell) []Cell {
	g.mu.RLock()
	m := g.members[k]
	g.mu.RUnlock()
	if m == nil {
		return dst
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return append(dst, m.interest...)
}

// Cells returns the union of the members' interests, sorted: the cells this
// server needs from the others.
func (g *Grid[K]) Cells() []Cell {
	g.mu.RLock()
	defer g.mu.RUnlock()
	seen := make(map[Cell]struct{})
	for _, m := range g.members {
		m.mu.Lock()
		for _, c := range m.interest {
			seen[c] = struct{}{}
		}
		m.mu.Unlock()
	}
	out := make([]Cell, 0, len(seen))
	for c := range seen {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Cell) int {
		if a.Y != b.Y {
			return int(a.Y) - int(b.Y)
		}
		return int(a.X) - int(b.X)
	})
	return out
}

// Senders numbers each sender's messages in a world, so that "every n-th
// message" means the same messages for every subscriber at that rate: a
// message numbered s reaches a subscriber at rate n if s%n == 0, and the
// first message of a sender reaches everyone within the radius. Safe for
// concurrent use and allocation-free once a sender is known. The counters
// are sharded by sender, each shard under its own lock, so that read loops
// of different senders rarely meet.
//
// Senders come and go, and those of other servers are never told gone, so a
// shard past its share of maxSenders starts over: a subscriber may then get
// one message early or late, never one from beyond the radius.
type Senders struct {
	shards [senderShards]senderShard
}

type senderShard struct {
	mu   sync.Mutex
	next map[uint64]uint64
}

const (
	senderShards = 16
	// maxSenders bounds Senders' memory.
	maxSenders = 1 << 16
)

// Next returns the number of sender's next message: 0, 1, 2, ...
func (s *Senders) Next(sender uint64) uint64 {
	sh := &s.shards[sender%senderShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	n, known := sh.next[sender]
	if !known && (sh.next == nil || len(sh.next) >= maxSenders/senderShards) {
		sh.next = make(map[uint64]uint64)
	}
	sh.next[sender] = n + 1
	return n
}

// Forget drops sender's numbering (it left).
func (s *Senders) Forget(sender uint64) {
	sh := &s.shards[sender%senderShards]
	sh.mu.Lock()
	delete(sh.next, sender)
	sh.mu.Unlock()
}
