package luahost

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/webrtc-broker/webrtc-broker/core/policy"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// echoHooks governs two patterns and hands back every argument it got, NUL
// separated: the fuzz target checks that topics, bodies and identities reach
// the hooks, and replaced bodies and reasons come back, byte for byte.
const echoHooks = `
policy = { topics = { "h.**", "g.*.x" } }
function on_publish(topic, body, alias, identity, role, reliable)
  return "replace", table.concat({topic, body, tostring(alias), identity, role, tostring(reliable)}, "\0")
end
function on_subscribe(topic, alias, identity, role)
  return "deny", table.concat({topic, tostring(alias), identity, role}, "\0")
end
`

// echoPatterns are echoHooks' patterns as regular expressions: the oracle
// of which topics it governs.
var echoPatterns = regexp.MustCompile(`(?s)\A(?:h\..*|g\.[^.]*\.x)\z`)

// FuzzHookArgs passes arbitrary topics, bodies and identities (any bytes:
// the server checks only that topics are UTF-8 without white space) through
// the real host to on_publish and on_subscribe. The host must govern exactly
// the topics its patterns match, never fail the hooks, and pass every
// argument and result through unchanged.
func FuzzHookArgs(f *testing.F) {
	f.Add("h.chat.room", []byte("hello"), []byte("user:alice"), uint64(7), true)
	f.Add("g.a.x", []byte{}, []byte{}, uint64(0), false)
	f.Add("g.a.b.x", []byte("\x00\xff"), []byte("\xff"), uint64(1<<53+1), true)
	f.Add("h.", []byte(strings.Repeat("b", 4096)), []byte("id"), uint64(1), false)
	f.Add("other", []byte("x"), []byte("id"), uint64(1), false)
	f.Add("g.*.x", []byte("x"), []byte("id"), uint64(1), false)
	h := newFuzzHost(f, map[string]string{"echo.lua": echoHooks})
	f.Fuzz(func(t *testing.T, topic string, body, identity []byte, alias uint64, reliable bool) {
		// Lua prints numbers with 14 significant digits: keep aliases
		// within them so that tostring shows them whole.
		alias %= 1e14
		p := policy.Peer{Alias: alias, Identity: identity, Role: protocol.Role_CLIENT}
		governed := echoPatterns.MatchString(topic)
		if got := h.Governs(topic); got != governed {
			t.Fatalf("Governs(%q) = %v, want %v", topic, got, governed)
		}
		luaAlias := strconv.FormatUint(alias, 10)
		d := h.OnPublish(p, topic, body, reliable)
		if !governed {
			if d.Verdict != policy.Allow {
				t.Fatalf("ungoverned %q: %v %s", topic, d.Verdict, d.Reason)
			}
		} else {
			want := [][]byte{[]byte(topic), body, []byte(luaAlias), identity, []byte("client"), []byte(strconv.FormatBool(reliable))}
			checkEcho(t, "on_publish", d.Verdict == policy.Replace, d.Body, want, d.Reason)
		}
		allow, reason := h.OnSubscribe(p, topic)
		if !governed {
			if !allow {
				t.Fatalf("ungoverned %q denied: %s", topic, reason)
			}
			return
		}
		want := [][]byte{[]byte(topic), []byte(luaAlias), identity, []byte("client")}
		checkEcho(t, "on_subscribe", !allow, []byte(reason), want, reason)
	})
}

func checkEcho(t *testing.T, hook string, ok bool, got []byte, want [][]byte, reason string) {
	t.Helper()
	if !ok {
		t.Fatalf("%s did not answer: %s", hook, reason)
	}
	if w := bytes.Join(want, []byte{0}); !bytes.Equal(got, w) {
		t.Fatalf("%s echoed %q, want %q", hook, got, w)
	}
}
