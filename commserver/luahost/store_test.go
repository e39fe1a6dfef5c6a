package luahost

import (
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/webrtc-broker/webrtc-broker/core/policy"
)

func TestTokenBucket(t *testing.T) {
	s := newStore()
	now := time.Unix(1000, 0)
	key := bucketKey{n: 7, num: true}
	for i := range 5 {
		if !s.allow(key, 2, 5, now) {
			t.Fatalf("burst message %d refused", i+1)
		}
	}
	if s.allow(key, 2, 5, now) {
		t.Fatal("message over the burst allowed")
	}
	if !s.allow(bucketKey{s: "7"}, 2, 5, now) {
		t.Fatal(`the string key "7" shares the number key 7's bucket`)
	}
	now = now.Add(499 * time.Millisecond)
	if s.allow(key, 2, 5, now) {
		t.Fatal("allowed before a token refilled")
	}
	now = now.Add(time.Millisecond)
	if !s.allow(key, 2, 5, now) {
		t.Fatal("refused after a token refilled (2/s, 500ms)")
	}
	// A clock that goes back does not mint tokens.
	if s.allow(key, 2, 5, now.Add(-time.Hour)) {
		t.Fatal("allowed on a clock going back")
	}
}

func TestBucketsBounded(t *testing.T) {
	s := newStore()
	now := time.Unix(1000, 0)
	for i := range maxBuckets * 2 {
		// Every key stays busy (burst 1, no refill), the worst case.
		s.allow(bucketKey{n: float64(i), num: true}, 0, 1, now)
	}
	if n := len(s.buckets); n > maxBuckets {
		t.Errorf("%d buckets, bound %d", n, maxBuckets)
	}
}

func TestKVLimits(t *testing.T) {
	s := newStore()
	if !s.set("a", lua.LString("x")) || s.get("a") != lua.LString("x") {
		t.Fatal("set/get")
	}
	if !s.set("a", lua.LNil) || s.get("a") != lua.LNil || s.kvBytes != 0 {
		t.Fatalf("delete: bytes %d", s.kvBytes)
	}
	if n, msg := s.incr("n", 2); msg != "" || n != 2 {
		t.Fatalf("incr: %v %q", n, msg)
	}
	if _, msg := s.incr("a2", 1); msg != "" {
		t.Fatal(msg)
	}
	s.set("str", lua.LString("x"))
	if _, msg := s.incr("str", 1); msg == "" {
		t.Fatal("incr of a string accepted")
	}
	for i := 0; len(s.kv) < maxKVKeys; i++ {
		s.set(strings.Repeat("k", 1+i%7)+string(rune(i)), lua.LTrue)
	}
	if s.set("one-more", lua.LTrue) {
		t.Error("set past the key bound")
	}
	if !s.set("str", lua.LString("y")) {
		t.Error("overwriting an existing key refused when full")
	}
	if _, msg := s.incr("new-counter", 1); msg == "" {
		t.Error("incr created a key past the bound")
	}
}

// TestStoreFromLua: the broker API over the store, with its argument checks.
func TestStoreFromLua(t *testing.T) {
	th := newTestHost(t, map[string]string{"kv.lua": `
policy = { topics = { "kv.*" } }
function on_publish(topic, body, alias)
  if topic == "kv.set" then
    assert(broker.kv_set("s", body))
    assert(broker.kv_set("n", 1.5))
    assert(broker.kv_set("b", false))
    return "replace", tostring(broker.kv_get("s")) .. tostring(broker.kv_get("n")) .. tostring(broker.kv_get("b")) .. tostring(broker.kv_get("none"))
  end
  if topic == "kv.table" then broker.kv_set("t", {}) end
  if topic == "kv.rate" then return broker.rate_limit(alias, 0, 1) end
  if topic == "kv.badrate" then return broker.rate_limit({}, 1, 1) end
  if topic == "kv.badburst" then return broker.rate_limit("k", 1, 0) end
  if topic == "kv.badlevel" then broker.log("loud", "x") end
end
`})
	if got := body(th.publish(alice, "kv.set", "v")); got != "v1.5falsenil" {
		t.Errorf("kv: %q", got)
	}
	if d := th.publish(alice, "kv.rate", ""); d.Verdict != policy.Allow {
		t.Errorf("first rate_limit: %+v", d)
	}
	if d := th.publish(alice, "kv.rate", ""); d.Reason != "dropped by policy" {
		t.Errorf("second rate_limit: %+v", d)
	}
	if d := th.publish(bob, "kv.rate", ""); d.Verdict != policy.Allow {
		t.Errorf("another peer's rate_limit: %+v", d)
	}
	for _, topic := range []string{"kv.table", "kv.badrate", "kv.badburst", "kv.badlevel"} {
		if d := th.publish(alice, topic, ""); d.Reason != failureReason {
			t.Errorf("%s: %+v, want a script error", topic, d)
		}
	}
	if !strings.Contains(th.logs.String(), "bad argument") {
		t.Errorf("argument errors not logged:\n%s", th.logs)
	}
}
