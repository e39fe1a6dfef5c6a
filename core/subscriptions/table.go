// Package subscriptions owns who subscribes to what on one communication
// server: each client's topic set, the set each connected server announced,
// and the per-topic subscriber lists the relay reads for every message.
//
// Topics are exact strings (no wildcards). A set is always replaced whole,
// as a SUBSCRIPTION message replaces the previous one; empty strings are
// ignored and duplicates collapse.
//
// Reads are on the hot path (one lookup per relayed message) and writes are
// rare (a subscription change), so subscriber lists are copy-on-write: a
// change builds a new slice and swaps it in under the write lock, and every
// reader gets the current slice without copying. A slice handed out is never
// modified afterwards, so callers may range over it after the lock is gone.
package subscriptions

import (
	"slices"
	"strings"
	"sync"
)

// Table maps topics to subscribers, kept apart by kind: clients (local
// subscribers that get *_FW messages) and servers (mesh links that get TOPIC
// messages). P is the caller's peer handle, typically a pointer. A handle
// is either a client or a server; Remove forgets it as both.
//
// Safe for concurrent use. Readers share an RWMutex read lock held only for
// one map lookup, so they never wait on each other and wait on a writer only
// for the few slice swaps a change makes.
type Table[P comparable] struct {
	// mu guards everything below. Slices stored in clients/servers and in
	// the byTopic maps are immutable once stored: writers replace, never
	// modify, them.
	mu sync.RWMutex

	// clientSets and serverSets hold each peer's current set, sorted and
	// deduplicated, using the canonical topic strings of the byTopic maps.
	clientSets map[P][]string
	serverSets map[P][]string

	// clientsByTopic and serversByTopic hold the subscribers of each topic
	// that has at least one; a topic with none has no key. The keys of
	// clientsByTopic are therefore the union of all clients' topics.
	clientsByTopic map[string][]P
	serversByTopic map[string][]P
}

// New returns an empty table.
func New[P comparable]() *Table[P] {
	return &Table[P]{
		clientSets:     make(map[P][]string),
		serverSets:     make(map[P][]string),
		clientsByTopic: make(map[string][]P),
		serversByTopic: make(map[string][]P),
	}
}

// SetClient replaces client p's whole topic set; unionChanged reports whether
// the union of all clients' topics changed (the server must then announce its
// set to the other servers). An empty set unsubscribes p from everything.
func (t *Table[P]) SetClient(p P, topics []string) (unionChanged bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	added, removed := t.replace(t.clientSets, t.clientsByTopic, p, topics)
	return added > 0 || removed > 0
}

// SetServer replaces what server p announced; changed reports whether p's set
// differs from before.
func (t *Table[P]) SetServer(p P, topics []string) (changed bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.serverSets[p]
	t.replace(t.serverSets, t.serversByTopic, p, topics)
	return !slices.Equal(old, t.serverSets[p])
}

// Remove forgets p as a client and as a server; unionChanged reports whether
// the union of all clients' topics changed, as in SetClient.
func (t *Table[P]) Remove(p P) (unionChanged bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.replace(t.serverSets, t.serversByTopic, p, nil)
	added, removed := t.replace(t.clientSets, t.clientsByTopic, p, nil)
	return added > 0 || removed > 0
}

// Clients returns the clients subscribed to topic. The slice is an immutable
// snapshot shared by all callers: do not modify it. It does not allocate.
func (t *Table[P]) Clients(topic string) []P {
	t.mu.RLock()
	s := t.clientsByTopic[topic]
	t.mu.RUnlock()
	return s
}

// Servers returns the servers subscribed to topic, as Clients does.
func (t *Table[P]) Servers(topic string) []P {
	t.mu.RLock()
	s := t.serversByTopic[topic]
	t.mu.RUnlock()
	return s
}

// ClientsBytes is Clients for a topic held as bytes, such as the view that
// relay.ParseTopic returns; it does not allocate either.
func (t *Table[P]) ClientsBytes(topic []byte) []P {
	t.mu.RLock()
	s := t.clientsByTopic[string(topic)] // no allocation: the compiler elides the conversion for a lookup
	t.mu.RUnlock()
	return s
}

// ServersBytes is Servers for a topic held as bytes.
func (t *Table[P]) ServersBytes(topic []byte) []P {
	t.mu.RLock()
	s := t.serversByTopic[string(topic)]
	t.mu.RUnlock()
	return s
}

// Topic returns the table's own string for topic when a client or a server
// subscribes to it. It lets the hot path turn a parsed topic into a string
// (for the policy and the encoder) without allocating; when ok is false no
// one subscribes and the caller may allocate with string(topic).
func (t *Table[P]) Topic(topic []byte) (s string, ok bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if s, ok = t.canonical(topic); ok {
		return s, true
	}
	return "", false
}

// ClientTopics is the sorted union of all clients' topics: what a server
// announces. The caller owns the returned slice.
func (t *Table[P]) ClientTopics() []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]string, 0, len(t.clientsByTopic))
	for topic := range t.clientsByTopic {
		out = append(out, topic)
	}
	slices.Sort(out)
	return out
}

// TopicsExcept is the sorted union of all clients' topics and of the topics
// of every server other than except: what a hub announces to server except,
// so that it never echoes a server's own set back to it. The caller owns the
// returned slice.
func (t *Table[P]) TopicsExcept(except P) []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]string, 0, len(t.clientsByTopic)+len(t.serversByTopic))
	for topic := range t.clientsByTopic {
		out = append(out, topic)
	}
	for topic, servers := range t.serversByTopic {
		if _, dup := t.clientsByTopic[topic]; dup {
			continue
		}
		if len(servers) > 1 || servers[0] != except {
			out = append(out, topic)
		}
	}
	slices.Sort(out)
	return out
}

// TopicsOf returns p's current set, client or server, sorted. The caller owns
// the returned slice.
func (t *Table[P]) TopicsOf(p P) []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if set, ok := t.clientSets[p]; ok {
		return slices.Clone(set)
	}
	return slices.Clone(t.serverSets[p])
}

// replace sets p's set in sets to topics and updates byTopic to match,
// returning how many topics gained their first subscriber and how many lost
// their last. Lock held on entry (write).
func (t *Table[P]) replace(sets map[P][]string, byTopic map[string][]P, p P, topics []string) (added, removed int) {
	old := sets[p]
	next := normalize(topics)
	if slices.Equal(old, next) {
		return 0, 0
	}
	// Walk both sorted sets once: topics only in old lose p, topics only in
	// next gain it.
	canon := make([]string, 0, len(next))
	i, j := 0, 0
	for i < len(old) || j < len(next) {
		switch {
		case j == len(next) || (i < len(old) && old[i] < next[j]):
			if without(byTopic, old[i], p) {
				removed++
			}
			i++
		case i == len(old) || next[j] < old[i]:
			topic, first := t.with(byTopic, next[j], p)
			if first {
				added++
			}
			canon = append(canon, topic)
			j++
		default: // in both: keep the stored string
			canon = append(canon, old[i])
			i++
			j++
		}
	}
	if len(canon) == 0 {
		delete(sets, p)
	} else {
		sets[p] = canon
	}
	return added, removed
}

// with adds p to topic's subscribers with a new slice (readers may hold the
// old one) and returns the canonical topic string and whether p is its first
// subscriber. Lock held on entry (write).
func (t *Table[P]) with(byTopic map[string][]P, topic string, p P) (string, bool) {
	subs, ok := byTopic[topic]
	if ok {
		// Reuse the map's key so every set shares one copy of the string.
		topic = t.keyOf(byTopic, topic)
	} else if s, found := t.canonical([]byte(topic)); found {
		topic = s
	} else {
		// The caller's string may be a slice of a large buffer (a whole
		// SUBSCRIPTION message); keep only the topic.
		topic = strings.Clone(topic)
	}
	next := make([]P, len(subs), len(subs)+1)
	copy(next, subs)
	byTopic[topic] = append(next, p)
	return topic, !ok
}

// keyOf returns the key under which topic is stored in byTopic. Go maps do
// not expose their keys, so look for it in the sets that hold it. Lock held
// on entry.
func (t *Table[P]) keyOf(byTopic map[string][]P, topic string) string {
	sets := t.clientSets
	if isSame(byTopic, t.serversByTopic) {
		sets = t.serverSets
	}
	for _, p := range byTopic[topic] {
		set := sets[p]
		if i, ok := slices.BinarySearch(set, topic); ok {
			return set[i]
		}
	}
	return topic
}

// canonical finds topic's stored string in either kind of set. Lock held on
// entry (read or write).
func (t *Table[P]) canonical(topic []byte) (string, bool) {
	if subs, ok := t.clientsByTopic[string(topic)]; ok {
		if s, ok := find(t.clientSets[subs[0]], topic); ok {
			return s, true
		}
	}
	if subs, ok := t.serversByTopic[string(topic)]; ok {
		if s, ok := find(t.serverSets[subs[0]], topic); ok {
			return s, true
		}
	}
	return "", false
}

// find binary-searches a sorted set for topic without converting it.
func find(set []string, topic []byte) (string, bool) {
	i, ok := slices.BinarySearchFunc(set, topic, func(s string, b []byte) int {
		return strings.Compare(s, string(b)) // no allocation: converted for a comparison
	})
	if !ok {
		return "", false
	}
	return set[i], true
}

// without removes p from topic's subscribers with a new slice and reports
// whether p was the last one (the topic then has no key). Lock held on entry
// (write).
func without[P comparable](byTopic map[string][]P, topic string, p P) (last bool) {
	subs := byTopic[topic]
	i := slices.Index(subs, p)
	if i < 0 {
		return false
	}
	if len(subs) == 1 {
		delete(byTopic, topic)
		return true
	}
	next := make([]P, 0, len(subs)-1)
	next = append(next, subs[:i]...)
	byTopic[topic] = append(next, subs[i+1:]...)
	return false
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

// isSame reports whether a and b are the same map.
func isSame[K comparable, V any](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	// Maps are reference types; inserting a probe key would mutate them,
	// so compare identity through the runtime's map header pointer.
	return mapPointer(a) == mapPointer(b)
}
