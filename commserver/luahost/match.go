package luahost

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	lua "github.com/yuin/gopher-lua"
)

// pattern is one topic pattern a script declares. Topics are dot-separated
// names; `*` matches any run of characters within one segment (no dot) and
// `**` any run of characters including dots. Everything else is literal.
type pattern struct {
	text   string
	prefix string // for the common "a.b.**" shape: every topic with this prefix
	kind   patternKind
}

type patternKind uint8

const (
	exactPattern  patternKind = iota // no wildcard
	prefixPattern                    // literal prefix followed by a final `**`
	globPattern                      // anything else
)

// parsePattern validates p: not empty, no white space (topic sets travel
// space-separated), no `***`.
func parsePattern(p string) (pattern, error) {
	switch {
	case p == "":
		return pattern{}, fmt.Errorf("empty topic pattern")
	case strings.ContainsAny(p, " \t\r\n"):
		return pattern{}, fmt.Errorf("topic pattern %q contains white space", p)
	case strings.Contains(p, "***"):
		return pattern{}, fmt.Errorf("topic pattern %q: use * (one segment) or ** (any depth)", p)
	}
	i := strings.IndexByte(p, '*')
	switch {
	case i < 0:
		return pattern{text: p, kind: exactPattern}, nil
	case i == len(p)-2 && strings.HasSuffix(p, "**"):
		return pattern{text: p, prefix: p[:i], kind: prefixPattern}, nil
	default:
		return pattern{text: p, kind: globPattern}, nil
	}
}

func (p *pattern) match(topic string) bool {
	switch p.kind {
	case exactPattern:
		return topic == p.text
	case prefixPattern:
		return strings.HasPrefix(topic, p.prefix)
	default:
		return glob(p.text, topic)
	}
}

// glob matches topic against a pattern of literals, `*` and `**`. Patterns are
// short and written by operators; the topic cache makes this run once per
// topic, so plain backtracking is enough.
func glob(p, t string) bool {
	for len(p) > 0 {
		if p[0] != '*' {
			if len(t) == 0 || t[0] != p[0] {
				return false
			}
			p, t = p[1:], t[1:]
			continue
		}
		deep := len(p) > 1 && p[1] == '*'
		if deep {
			p = p[2:]
		} else {
			p = p[1:]
		}
		for i := 0; i <= len(t); i++ {
			if glob(p, t[i:]) {
				return true
			}
			if i < len(t) && !deep && t[i] == '.' {
				return false
			}
		}
		return false
	}
	return len(t) == 0
}

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
