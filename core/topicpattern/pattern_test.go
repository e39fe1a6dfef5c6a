package topicpattern

import "testing"

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, topic string
		want           bool
	}{
		{"world.*", "world.lobby", true},
		{"world.*", "world.lobby.cell.1.2", false},
		{"world.*", "world.", true},
		{"world.*", "worlds.x", false},
		{"world.**", "world.lobby.cell.1.2", true},
		{"world.**", "world", false},
		{"a.*.c", "a.b.c", true},
		{"a.*.c", "a.b.x.c", false},
		{"a.**.c", "a.b.x.c", true},
		{"state", "state", true},
		{"state", "states", false},
		{"*.pos", "x.pos", true},
	}
	for _, tt := range tests {
		p, err := Parse(tt.pattern)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Match(tt.topic); got != tt.want {
			t.Errorf("%q matches %q = %v, want %v", tt.pattern, tt.topic, got, tt.want)
		}
	}
}

func TestParseRefusesBadPatterns(t *testing.T) {
	for _, p := range []string{"", "a b", "a.***", "tab\there"} {
		if _, err := Parse(p); err == nil {
			t.Errorf("Parse(%q) accepted", p)
		}
	}
	if _, err := ParseSet([]string{"ok.*", ""}); err == nil {
		t.Error("ParseSet accepted an empty pattern")
	}
	var zero Pattern
	if zero.Match("") || zero.Match("x") {
		t.Error("the zero Pattern matched")
	}
}

func TestSet(t *testing.T) {
	s, err := ParseSet([]string{"a.*", "b.**"})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Match("a.x") || !s.Match("b.x.y") || s.Match("c") {
		t.Fatal("Set.Match disagrees with its patterns")
	}
}
