package commserver

import (
	"fmt"
	"hash/maphash"
	"sync"

	"github.com/webrtc-broker/webrtc-broker/core/spatial"
	"github.com/webrtc-broker/webrtc-broker/core/topicpattern"
)

// topicRules is what the worlds and conflate keys say about a topic: which
// world's geometry it has, if it is a world topic, and whether its
// unreliable messages are latest-wins. The answer is cached per topic, so a
// message costs one map lookup; cell topics (NAME.cell.X.Y) are not cached,
// since there are many, but parsed, and their world looked up.
type topicRules struct {
	// Read-only after newTopicRules.
	worlds   []worldDef
	conflate topicpattern.Set

	// mu guards cache; n counts its entries.
	mu    sync.RWMutex
	cache map[string]rule
}

// worldDef is one worlds entry, parsed.
type worldDef struct {
	pattern topicpattern.Pattern
	cfg     spatial.Config
}

// rule is what topicRules decided for one topic.
type rule struct {
	world    int16 // index in worlds, or -1
	conflate bool
	name     string // the topic, the cache's own copy (no allocation on lookups)
}

// maxCachedRules bounds the cache: clients choose topic names, so a flood of
// distinct names must not grow memory without limit. Past it the cache
// starts over.
const maxCachedRules = 1 << 16

// newTopicRules parses the worlds and conflate keys; nil when both are empty,
// so that a server without them pays nothing.
func newTopicRules(worlds []WorldConfig, conflate []string) (*topicRules, error) {
	if len(worlds) == 0 && len(conflate) == 0 {
		return nil, nil
	}
	if len(worlds) > 1<<14 {
		return nil, fmt.Errorf("worlds: %d entries: %w", len(worlds), errTooManyWorlds)
	}
	r := &topicRules{cache: map[string]rule{}}
	for i, w := range worlds {
		p, err := topicpattern.Parse(w.Pattern)
		if err != nil {
			return nil, fmt.Errorf("worlds[%d]: %w", i, err)
		}
		cfg := spatial.Config{Cell: w.Cell, Radius: w.Radius, Every: spatial.DefaultEvery}
		switch len(w.Every) {
		case 0:
		case len(cfg.Every):
			copy(cfg.Every[:], w.Every)
		default:
			return nil, fmt.Errorf("worlds[%d] (%s): every has %d rates: %w", i, w.Pattern, len(w.Every), errWorldRates)
		}
		if err := cfg.Check(); err != nil {
			return nil, fmt.Errorf("worlds[%d] (%s): %w", i, w.Pattern, err)
		}
		r.worlds = append(r.worlds, worldDef{pattern: p, cfg: cfg})
	}
	set, err := topicpattern.ParseSet(conflate)
	if err != nil {
		return nil, fmt.Errorf("conflate: %w", err)
	}
	r.conflate = set
	return r, nil
}

// lookup returns topic's rule. A cell topic of a world is never itself a
// world topic (even under a pattern such as "world.**"): isCell says topic
// is one, and then the rule is its world's. A topic of a cell's shape whose
// prefix is no world is an ordinary topic.
func (r *topicRules) lookup(topic []byte) (ru rule, isCell bool) {
	r.mu.RLock()
	ru, ok := r.cache[string(topic)]
	r.mu.RUnlock()
	if ok {
		return ru, false
	}
	if world, _, ok := spatial.ParseCellTopic(topic); ok {
		if ru, nested := r.lookup(world); !nested && ru.world >= 0 {
			return ru, true
		}
	}
	return r.learn(string(topic)), false
}

// learn matches topic against the patterns and caches the outcome.
func (r *topicRules) learn(topic string) rule {
	ru := rule{world: -1, name: topic, conflate: r.conflate.Match(topic)}
	_, _, cellShaped := spatial.ParseCellTopic([]byte(topic))
	for i, w := range r.worlds {
		if !cellShaped && w.pattern.Match(topic) {
			ru.world, ru.conflate = int16(i), true // world state is latest-wins
			break
		}
	}
	r.mu.Lock()
	if len(r.cache) >= maxCachedRules {
		r.cache = map[string]rule{}
	}
	r.cache[topic] = ru
	r.mu.Unlock()
	return ru
}

// conflateKey is the conflate key of a message from sender on topic: equal
// for the same pair under one seed (the server's keySeed), never 0 (no key).
func conflateKey(seed maphash.Seed, sender uint64, topic string) uint64 {
	k := maphash.String(seed, topic) ^ (sender * 0x9e3779b97f4a7c15)
	if k == 0 {
		k = 1
	}
	return k
}
