package natsbus

import (
	"strings"
	"testing"
)

func TestSubjectFor(t *testing.T) {
	long := strings.Repeat("x.", 600) // escapes to 2400 bytes: over maxEscaped
	cases := []struct {
		topic, want string
	}{
		{"chat", "wrb.t.chat"},
		{"Room_1-a", "wrb.t.Room_1-a"},
		{"game.room.1", "wrb.t.game%2Eroom%2E1"},
		{"a*", "wrb.t.a%2A"},
		{">", "wrb.t.%3E"},
		{"a.>", "wrb.t.a%2E%3E"},
		{"50%", "wrb.t.50%25"},
		{"%2E", "wrb.t.%252E"}, // not the escape of "."
		{"tab\there", "wrb.t.tab%09here"},
		{"nul\x00", "wrb.t.nul%00"},
		{"é", "wrb.t.%C3%A9"},
		{"$SYS", "wrb.t.%24SYS"},
		{long, ""}, // the long form: checked below
	}
	for _, tc := range cases {
		got, ok := SubjectFor("wrb", tc.topic)
		if !ok {
			t.Errorf("SubjectFor(%.20q): no subject", tc.topic)
			continue
		}
		if tc.topic == long {
			if !strings.HasPrefix(got, "wrb.h.") || len(got) != len("wrb.h.")+64 {
				t.Errorf("long topic: %q, want wrb.h. and a SHA-256 in hex", got)
			}
			continue
		}
		if got != tc.want {
			t.Errorf("SubjectFor(%q) = %q, want %q", tc.topic, got, tc.want)
		}
		if back, ok := TopicOf("wrb", got); !ok || back != tc.topic {
			t.Errorf("TopicOf(%q) = %q, %v; want %q", got, back, ok, tc.topic)
		}
	}
	if _, ok := SubjectFor("wrb", ""); ok {
		t.Error("the empty topic has a subject")
	}
	for _, bad := range []string{"wrb.t.a%2a", "wrb.t.a%41", "wrb.t.a%4", "wrb.t.a.b", "wrb.t.", "other.t.a", "wrb.h.ab"} {
		if topic, ok := TopicOf("wrb", bad); ok {
			t.Errorf("TopicOf(%q) = %q: a subject SubjectFor never makes was inverted", bad, topic)
		}
	}
}

func TestCheckPrefix(t *testing.T) {
	for _, good := range []string{"wrb", "prod.broker", "a-b_c.d1"} {
		if err := checkPrefix(good); err != nil {
			t.Errorf("checkPrefix(%q): %v", good, err)
		}
	}
	for _, bad := range []string{"", ".", "a.", ".a", "a..b", "a.*", "a.>", "a b", "a%b", strings.Repeat("a", maxPrefix+1)} {
		if err := checkPrefix(bad); err == nil {
			t.Errorf("checkPrefix(%q) accepted", bad)
		}
	}
}

// validLiteral reports whether s is a NATS literal subject: non-empty
// tokens separated by '.', no wildcard token, no whitespace.
func validLiteral(s string) bool {
	if s == "" || strings.ContainsAny(s, " \t\r\n\f\v\x00") {
		return false
	}
	for tok := range strings.SplitSeq(s, ".") {
		if tok == "" || strings.ContainsAny(tok, "*>") {
			return false
		}
	}
	return true
}

// FuzzSubjectForIsInjective: two different topics never share a subject
// (the short form; the long form is a digest, checked by the receiver),
// every subject is a literal of exactly prefix's tokens and one more, and
// TopicOf inverts the short form.
func FuzzSubjectForIsInjective(f *testing.F) {
	for _, s := range [][2]string{{"a.b", "a%2Eb"}, {"a*", "a%2A"}, {">", "%3E"}, {"x", "x "}, {"%", "%25"}, {"é", "\xc3\xa9"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		sa, okA := SubjectFor("wrb", a)
		sb, okB := SubjectFor("wrb", b)
		for _, c := range []struct {
			topic, subj string
			ok          bool
		}{{a, sa, okA}, {b, sb, okB}} {
			if !c.ok {
				if c.topic != "" {
					t.Fatalf("no subject for %q", c.topic)
				}
				continue
			}
			if !validLiteral(c.subj) || strings.Count(c.subj, ".") != 2 {
				t.Fatalf("SubjectFor(%q) = %q: not a literal three-token subject", c.topic, c.subj)
			}
			if strings.HasPrefix(c.subj, "wrb.t.") {
				if back, ok := TopicOf("wrb", c.subj); !ok || back != c.topic {
					t.Fatalf("TopicOf(SubjectFor(%q)) = %q, %v", c.topic, back, ok)
				}
			}
		}
		if okA && okB && a != b && sa == sb {
			t.Fatalf("topics %q and %q share subject %q", a, b, sa)
		}
	})
}
