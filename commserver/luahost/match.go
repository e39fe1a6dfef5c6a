package luahost

import (
	"sync"
	"sync/atomic"

	lua "github.com/yuin/gopher-lua"
)

// governed is what a snapshot resolved for one topic: the scripts with each
// hook, in file-name order. A nil *governed means no script governs the topic.
type governed struct {
	topic     lua.LValue // the topic as a Lua string, boxed once per cached topic
	subscribe []*script
	publish   []*script
}

// maxCachedTopics bounds the topic cache: clients choose topic names, so a
// flood of distinct names must not grow memory without limit. Past it the
// cache starts over.
const maxCachedTopics = 1 << 16

// topicCache maps a topic to its *governed for one snapshot. A reload builds
// a new snapshot with an empty cache, which is the invalidation. Lookups are
// lock-free (sync.Map suits a read-mostly, write-once-per-key map), and a
// sync.Map keyed by string does not allocate on Load.
type topicCache struct {
	m sync.Map // string -> *governed
	n atomic.Int64
}
