// Package topicpattern matches topics against the patterns operators write
// in configuration: topics are dot-separated names; `*` matches any run of
// characters within one segment (no dot) and `**` any run including dots;
// everything else is literal. It is the syntax of the Lua policies'
// `policy.topics` (commserver/luahost), so one pattern means the same thing
// in a script and in the server's config (worlds, conflate).
package topicpattern

import (
	"fmt"
	"strings"
)

// Pattern is one parsed pattern. The zero Pattern matches nothing.
type Pattern struct {
	text   string
	prefix string // for the common "a.b.**" shape: every topic with this prefix
	kind   kind
}

type kind uint8

const (
	none   kind = iota
	exact       // no wildcard
	prefix      // literal prefix followed by a final `**`
	glob        // anything else
)

// Parse validates p: not empty, no white space (topic sets travel
// space-separated), no `***`.
func Parse(p string) (Pattern, error) {
	switch {
	case p == "":
		return Pattern{}, fmt.Errorf("empty topic pattern")
	case strings.ContainsAny(p, " \t\r\n"):
		return Pattern{}, fmt.Errorf("topic pattern %q contains white space", p)
	case strings.Contains(p, "***"):
		return Pattern{}, fmt.Errorf("topic pattern %q: use * (one segment) or ** (any depth)", p)
	}
	i := strings.IndexByte(p, '*')
	switch {
	case i < 0:
		return Pattern{text: p, kind: exact}, nil
	case i == len(p)-2 && strings.HasSuffix(p, "**"):
		return Pattern{text: p, prefix: p[:i], kind: prefix}, nil
	default:
		return Pattern{text: p, kind: glob}, nil
	}
}

// String returns the pattern as written.
func (p Pattern) String() string { return p.text }

// Match reports whether topic matches p.
func (p Pattern) Match(topic string) bool {
	switch p.kind {
	case exact:
		return topic == p.text
	case prefix:
		return strings.HasPrefix(topic, p.prefix)
	case glob:
		return match(p.text, topic)
	}
	return false
}

// match matches t against a pattern of literals, `*` and `**`. Patterns are
// short and written by operators, and callers cache the outcome per topic,
// so plain backtracking is enough.
func match(p, t string) bool {
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
			if match(p, t[i:]) {
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

// Set is a list of patterns; a topic matches the set if it matches one.
type Set []Pattern

// ParseSet parses every pattern, naming the first bad one.
func ParseSet(patterns []string) (Set, error) {
	set := make(Set, 0, len(patterns))
	for _, s := range patterns {
		p, err := Parse(s)
		if err != nil {
			return nil, err
		}
		set = append(set, p)
	}
	return set, nil
}

// Match reports whether topic matches any pattern of the set.
func (s Set) Match(topic string) bool {
	for _, p := range s {
		if p.Match(topic) {
			return true
		}
	}
	return false
}
