package luahost

import (
	"fmt"
	"testing"

	"github.com/webrtc-broker/webrtc-broker/core/topicpattern"
)

func TestPatterns(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		match   []string
		nomatch []string
	}{
		{"chat.lobby", []string{"chat.lobby"}, []string{"chat.lobby2", "chat", "chat.lobby.x", "xchat.lobby"}},
		{"chat.*", []string{"chat.a", "chat.", "chat.lobby"}, []string{"chat", "chat.a.b", "chatx.a", "game.a"}},
		{"chat.**", []string{"chat.a", "chat.a.b.c", "chat."}, []string{"chat", "chatty.a", "game.chat.a"}},
		{"*.pos", []string{"game.pos", ".pos"}, []string{"a.b.pos", "game.posx"}},
		{"**.pos", []string{"game.pos", "a.b.pos", ".pos"}, []string{"pos", "a.b.posx"}},
		{"room*.*", []string{"room1.x", "room.x"}, []string{"room1.x.y", "roo.x"}},
		{"a.*.c", []string{"a.b.c", "a..c"}, []string{"a.b.x.c", "a.c"}},
		{"a.**.c", []string{"a.b.c", "a.b.x.c", "a..c"}, []string{"a.c", "a.b.cd"}},
		{"*", []string{"lobby", ""}, []string{"a.b"}},
		{"**", []string{"", "a", "a.b.c"}, nil},
	} {
		p, err := topicpattern.Parse(tc.pattern)
		if err != nil {
			t.Fatalf("%q: %v", tc.pattern, err)
		}
		for _, topic := range tc.match {
			if !p.Match(topic) {
				t.Errorf("%q does not match %q", tc.pattern, topic)
			}
		}
		for _, topic := range tc.nomatch {
			if p.Match(topic) {
				t.Errorf("%q matches %q", tc.pattern, topic)
			}
		}
	}
	for _, bad := range []string{"", "a b", "a\tb", "a.***"} {
		if _, err := topicpattern.Parse(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestTopicCacheBounded: a flood of distinct topic names does not grow the
// cache past its bound.
func TestTopicCacheBounded(t *testing.T) {
	// A leading wildcard turns the prefix filter off: every topic goes
	// through the cache.
	th := newTestHost(t, map[string]string{"a.lua": `policy = { topics = { "*.r" } }
function on_publish() end`})
	for i := range maxCachedTopics + 10 {
		th.Governs(fmt.Sprint("t", i))
	}
	if n := th.snap.Load().cache.Load().n.Load(); n > maxCachedTopics {
		t.Errorf("cache holds %d topics, bound %d", n, maxCachedTopics)
	}
	if !th.Governs("x.r") || th.Governs("x.q") {
		t.Error("lookups wrong after the cache started over")
	}
}

// TestGovernsPaths: the answer is the same whether the prefix filter or the
// topic cache decides (a pattern that starts with a wildcard, or too many
// prefixes, turn the filter off), and neither allocates once warm.
func TestGovernsPaths(t *testing.T) {
	many := `policy = { topics = { "a.*", "b.*", "c.*", "d.*", "e.*", "f.*", "g.*", "h.*", "i.**" } }
function on_publish() end`
	for _, tc := range []struct {
		name, src  string
		filter     bool
		governed   []string
		ungoverned []string
	}{
		{"prefixes", `policy = { topics = { "chat.*", "game.**", "lobby" } }
function on_publish() end`, true,
			[]string{"chat.x", "game.a.b", "lobby"}, []string{"", "chat", "chat.x.y", "gamer", "lobby2", "x"}},
		{"leading wildcard", `policy = { topics = { "*.pos", "lobby" } }
function on_publish() end`, false,
			[]string{"game.pos", "lobby"}, []string{"", "a.b.pos", "pos", "lobby.x"}},
		{"too many prefixes", many, false,
			[]string{"a.x", "h.y", "i.x.y"}, []string{"j.x", "a.x.y", ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			th := newTestHost(t, map[string]string{"p.lua": tc.src})
			if got := th.snap.Load().prefixes != nil; got != tc.filter {
				t.Fatalf("prefix filter on = %v, want %v", got, tc.filter)
			}
			for _, topic := range tc.governed {
				if miss, hit := th.Governs(topic), th.Governs(topic); !miss || !hit { // a miss, then a hit
					t.Errorf("%q not governed", topic)
				}
			}
			for _, topic := range tc.ungoverned {
				if miss, hit := th.Governs(topic), th.Governs(topic); miss || hit {
					t.Errorf("%q governed", topic)
				}
				if n := testing.AllocsPerRun(100, func() { th.Governs(topic) }); n != 0 {
					t.Errorf("Governs(%q) allocates %v times", topic, n)
				}
			}
		})
	}
}
