// Package subscriptions owns who subscribes to what on one communication
// server: each client's topic set, the set each connected server announced,
// and the per-topic subscriber lists the relay reads for every message.
//
// Topics are exact strings (no wildcards). A set is always replaced whole,
// as a SUBSCRIPTION message replaces the previous one; empty strings are
// ignored and duplicates collapse.
//
// Reads are on the hot path (one Lookup per relayed message, from every
// peer's read loop at once) and writes are rare (a subscription change), so
// subscriber lists are copy-on-write: a change builds a new slice and swaps
// it in under the write lock, and every reader gets the current slice
// without copying. A slice handed out is never modified afterwards, so
// callers may range over it after the lock is gone.
//
// The topics are sharded by hash, each shard with its own RWMutex, as
// centrifuge's hub does: with one table-wide RWMutex every Lookup writes the
// same lock word, and publishers on different cores then queue on that one
// cache line (BenchmarkPublishLookup got slower with more cores, not faster).
//
// # Locks
//
// In order (locksordering.txt style: a lock may be taken while holding the
// ones before it, never the reverse):
//
//	Table.mu -> shard.mu (write)
//
// Table.mu serializes every change and the walks over all topics; a change
// takes each touched shard's lock for writing under it. Lookup takes only
// its shard's read lock, never Table.mu. No caller's code runs under either:
// the table calls out to nothing, so its locks are leaves for its callers.
package subscriptions

import (
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"unsafe"
)

// numShards is how many shards hold the topics: enough that publishers on
// different topics rarely share one, few enough that walking them all (to
// announce) costs nothing next to the sort that follows.
const numShards = 64

// Table maps topics to subscribers, kept apart by kind: clients (local
// subscribers that get *_FW messages) and servers (mesh links that get TOPIC
// messages). P is the caller's peer handle, typically a pointer. A handle is
// either a client or a server; Remove forgets it as both.
//
// Safe for concurrent use. Lock order: mu, then a shard's mu. A change holds
// mu throughout and each shard's write lock while it edits that shard, so
// changes are serialized and one shard holds all of one topic: whether a
// topic gains its first client or loses its last is decided inside it. A
// Lookup holds only its topic's shard read lock, for one map lookup; it
// never waits on another shard's change. Walks over every topic (ClientTopics,
// TopicsExcept) hold mu instead, and so see one state of the whole table,
// never half a change.
type Table[P comparable] struct {
	// mu serializes changes and guards everything below, and (with each
	// shard's own lock) the shards' entries: holding it is enough to read
	// them.
	mu sync.Mutex

	// clientSets and serverSets hold each peer's current set, sorted and
	// deduplicated, made of the entries' canonical strings. A peer with an
	// empty set has no key.
	clientSets map[P][]string
	serverSets map[P][]string

	// clientTopics counts the entries with at least one client: the size
	// of the union a server announces.
	clientTopics int

	// seed picks the shard of a topic.
	seed   maphash.Seed
	shards [numShards]shard[P]
}

// shard holds the topics whose hash falls on it.
type shard[P comparable] struct {
	// mu guards byTopic; writers also hold the table's mu.
	mu sync.RWMutex
	// byTopic holds every topic of the shard with at least one subscriber
	// of either kind.
	byTopic map[string]*entry[P]
	// Keeps each shard's lock word on a cache line of its own, so that
	// readers of neighbouring shards do not contend after all.
	_ [64 - (unsafe.Sizeof(sync.RWMutex{})+unsafe.Sizeof(map[string]*entry[int](nil)))%64]byte
}

// entry is one topic's subscribers. Its slices are immutable once stored:
// writers replace them (copy-on-write), so a slice handed to a reader stays
// valid and unchanged after the lock is released.
type entry[P comparable] struct {
	// name is the table's own copy of the topic: the caller's string may be
	// a slice of a large buffer (a whole SUBSCRIPTION message), and every set
	// then shares this one copy.
	name    string
	clients []P
	servers []P
}

// kind selects the client or the server side of an entry.
type kind int

const (
	client kind = iota
	server
)

// New returns an empty table.
func New[P comparable]() *Table[P] {
	t := &Table[P]{
		clientSets: make(map[P][]string),
		serverSets: make(map[P][]string),
		seed:       maphash.MakeSeed(),
	}
	for i := range t.shards {
		t.shards[i].byTopic = make(map[string]*entry[P])
	}
	return t
}

// shardOf returns the shard that holds topic; shardOfBytes the same for it
// held as bytes (maphash hashes equal contents alike).
func (t *Table[P]) shardOf(topic string) *shard[P] {
	return &t.shards[maphash.String(t.seed, topic)%numShards]
}

func (t *Table[P]) shardOfBytes(topic []byte) *shard[P] {
	return &t.shards[maphash.Bytes(t.seed, topic)%numShards]
}

// SetClient replaces client p's whole topic set; unionChanged reports whether
// the union of all clients' topics changed (the server must then announce its
// set to the other servers). An empty set unsubscribes p from everything.
func (t *Table[P]) SetClient(p P, topics []string) (unionChanged bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, unionChanged = t.replace(client, p, normalize(topics))
	return unionChanged
}

// SetServer replaces what server p announced; changed reports whether p's set
// differs from before.
func (t *Table[P]) SetServer(p P, topics []string) (changed bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	changed, _ = t.replace(server, p, normalize(topics))
	return changed
}

// Remove forgets p as a client and as a server; unionChanged reports whether
// the union of all clients' topics changed, as in SetClient.
func (t *Table[P]) Remove(p P) (unionChanged bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.replace(server, p, nil)
	_, unionChanged = t.replace(client, p, nil)
	return unionChanged
}

// Subscribers is one topic's subscribers as a Lookup found them. Its slices
// are immutable snapshots shared by all callers: do not modify them.
type Subscribers[P comparable] struct {
	// Topic is the table's own string for the topic, so that the hot path
	// has one for the policy and the encoder without allocating.
	Topic   string
	Clients []P
	Servers []P
}

// Lookup returns topic's subscribers, clients and servers, as of one moment:
// the one table access the relay makes per message. topic is bytes, such as
// the view relay.ParseTopic returns; ok is false when no one subscribes. It
// does not allocate.
func (t *Table[P]) Lookup(topic []byte) (subs Subscribers[P], ok bool) {
	sh := t.shardOfBytes(topic)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	// The compiler does not allocate for a conversion used only as a map key.
	if e := sh.byTopic[string(topic)]; e != nil {
		return Subscribers[P]{Topic: e.name, Clients: e.clients, Servers: e.servers}, true
	}
	return Subscribers[P]{}, false
}

// ClientTopics is the sorted union of all clients' topics: what a server
// announces. The caller owns the returned slice.
func (t *Table[P]) ClientTopics() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, 0, t.clientTopics)
	for i := range t.shards {
		for _, e := range t.shards[i].byTopic {
			if len(e.clients) > 0 {
				out = append(out, e.name)
			}
		}
	}
	slices.Sort(out)
	return out
}

// TopicsExcept is the sorted union of all clients' topics and of the topics
// of every server other than except: what a hub announces to server except,
// so that a server's own set is never echoed back to it. The caller owns the
// returned slice.
func (t *Table[P]) TopicsExcept(except P) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for i := range t.shards {
		for _, e := range t.shards[i].byTopic {
			if len(e.clients) > 0 || len(e.servers) > 1 || (len(e.servers) == 1 && e.servers[0] != except) {
				out = append(out, e.name)
			}
		}
	}
	slices.Sort(out)
	return out
}

// replace sets p's set of kind k to next (sorted, deduplicated) and updates
// the entries to match. changed reports whether p's set differs from before;
// unionChanged whether a topic gained its first client or lost its last.
// t.mu held on entry.
func (t *Table[P]) replace(k kind, p P, next []string) (changed, unionChanged bool) {
	sets := t.clientSets
	if k == server {
		sets = t.serverSets
	}
	old := sets[p]
	if slices.Equal(old, next) {
		return false, false
	}
	// Walk both sorted sets once: topics only in old lose p, topics only in
	// next gain it, topics in both keep their stored string.
	kept := make([]string, 0, len(next))
	i, j := 0, 0
	for i < len(old) || j < len(next) {
		switch {
		case j == len(next) || (i < len(old) && old[i] < next[j]):
			if t.unsubscribe(k, old[i], p) {
				unionChanged = true
			}
			i++
		case i == len(old) || next[j] < old[i]:
			name, first := t.subscribe(k, next[j], p)
			if first {
				unionChanged = true
			}
			kept = append(kept, name)
			j++
		default:
			kept = append(kept, old[i])
			i++
			j++
		}
	}
	if len(kept) == 0 {
		delete(sets, p)
	} else {
		sets[p] = kept
	}
	return true, unionChanged && k == client
}

// subscribe adds p to topic's subscribers of kind k, with a new slice since
// readers may hold the old one. It returns the canonical topic string and
// whether p is the topic's first subscriber of that kind. t.mu held on
// entry; it takes the topic's shard lock.
func (t *Table[P]) subscribe(k kind, topic string, p P) (name string, first bool) {
	sh := t.shardOf(topic)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.byTopic[topic]
	if e == nil {
		e = &entry[P]{name: strings.Clone(topic)}
		sh.byTopic[e.name] = e
	}
	subs := &e.clients
	if k == server {
		subs = &e.servers
	}
	first = len(*subs) == 0
	next := make([]P, len(*subs), len(*subs)+1)
	copy(next, *subs)
	*subs = append(next, p)
	if first && k == client {
		t.clientTopics++
	}
	return e.name, first
}

// unsubscribe removes p from topic's subscribers of kind k, with a new slice,
// and reports whether p was the last one of that kind. An entry left with no
// subscriber at all is deleted. t.mu held on entry; it takes the topic's
// shard lock.
func (t *Table[P]) unsubscribe(k kind, topic string, p P) (last bool) {
	sh := t.shardOf(topic)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.byTopic[topic]
	if e == nil {
		return false
	}
	subs := &e.clients
	if k == server {
		subs = &e.servers
	}
	i := slices.Index(*subs, p)
	if i < 0 {
		return false
	}
	if len(*subs) == 1 {
		*subs = nil
		last = true
		if k == client {
			t.clientTopics--
		}
	} else {
		next := make([]P, 0, len(*subs)-1)
		next = append(next, (*subs)[:i]...)
		*subs = append(next, (*subs)[i+1:]...)
	}
	if len(e.clients) == 0 && len(e.servers) == 0 {
		delete(sh.byTopic, topic)
	}
	return last
}

// normalize returns topics sorted, without duplicates or empty strings. The
// caller's slice is not modified.
func normalize(topics []string) []string {
	out := make([]string, 0, len(topics))
	for _, topic := range topics {
		if topic != "" {
			out = append(out, topic)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
