package luahost

import (
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/webrtc-broker/webrtc-broker/core/policy"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// verdictScript answers on_publish with whatever the body names, so one
// script exercises every return shape.
const verdictScript = `
policy = { topics = { "t.**" } }
local answers = {
  ["nil"]           = function() return nil end,
  ["nothing"]       = function() end,
  ["true"]          = function() return true end,
  ["allow"]         = function() return "allow" end,
  ["false"]         = function() return false end,
  ["false-reason"]  = function() return false, "nope" end,
  ["drop"]          = function() return "drop" end,
  ["drop-reason"]   = function() return "drop", "too loud" end,
  ["replace"]       = function(body) return "replace", "new:" .. body end,
  ["replace-empty"] = function() return "replace", "" end,
  ["replace-nil"]   = function() return "replace" end,
  ["conflate"]      = function() return "conflate" end,
  ["bogus"]         = function() return "maybe" end,
  ["number"]        = function() return 42 end,
}
function on_publish(topic, body)
  return answers[body](body)
end
function on_subscribe(topic)
  if topic == "t.deny" then return "deny", "members only" end
  if topic == "t.false" then return false end
  if topic == "t.true" then return true end
  if topic == "t.bogus" then return "perhaps" end
  return "allow"
end
`

func TestPublishVerdicts(t *testing.T) {
	th := newTestHost(t, map[string]string{"v.lua": verdictScript})
	for _, tc := range []struct {
		body string
		want policy.Decision
	}{
		{"nil", policy.Decision{Verdict: policy.Allow}},
		{"nothing", policy.Decision{Verdict: policy.Allow}},
		{"true", policy.Decision{Verdict: policy.Allow}},
		{"allow", policy.Decision{Verdict: policy.Allow}},
		{"false", policy.Decision{Verdict: policy.Drop, Reason: "dropped by policy"}},
		{"false-reason", policy.Decision{Verdict: policy.Drop, Reason: "nope"}},
		{"drop", policy.Decision{Verdict: policy.Drop, Reason: "dropped by policy"}},
		{"drop-reason", policy.Decision{Verdict: policy.Drop, Reason: "too loud"}},
		{"replace", policy.Decision{Verdict: policy.Replace, Body: []byte("new:replace")}},
		{"replace-empty", policy.Decision{Verdict: policy.Replace, Body: []byte{}}},
		{"conflate", policy.Decision{Verdict: policy.Allow, Conflate: true}},
		// A return value outside the contract is a script error: fail closed.
		{"replace-nil", policy.Decision{Verdict: policy.Drop, Reason: failureReason}},
		{"bogus", policy.Decision{Verdict: policy.Drop, Reason: failureReason}},
		{"number", policy.Decision{Verdict: policy.Drop, Reason: failureReason}},
	} {
		t.Run(tc.body, func(t *testing.T) {
			got := th.publish(alice, "t.x", tc.body)
			if got.Verdict != tc.want.Verdict || got.Reason != tc.want.Reason || string(got.Body) != string(tc.want.Body) ||
				got.Conflate != tc.want.Conflate {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestSubscribeVerdicts(t *testing.T) {
	th := newTestHost(t, map[string]string{"v.lua": verdictScript})
	for _, tc := range []struct {
		topic      string
		wantAllow  bool
		wantReason string
	}{
		{"t.open", true, ""},
		{"t.true", true, ""},
		{"t.deny", false, "members only"},
		{"t.false", false, "subscription denied by policy"},
		{"t.bogus", false, failureReason},
		{"other", true, ""}, // not governed
	} {
		t.Run(tc.topic, func(t *testing.T) {
			allow, reason := th.OnSubscribe(alice, tc.topic)
			if allow != tc.wantAllow || reason != tc.wantReason {
				t.Errorf("got (%v, %q), want (%v, %q)", allow, reason, tc.wantAllow, tc.wantReason)
			}
		})
	}
}

// TestHookArguments checks what a hook sees: topic, body, alias, identity,
// role, reliable, and the server's alias.
func TestHookArguments(t *testing.T) {
	th := newTestHost(t, map[string]string{"args.lua": `
policy = { topics = { "a.*" } }
function on_publish(topic, body, alias, identity, role, reliable)
  return "replace", table.concat({topic, body, alias, identity, role, tostring(reliable), broker.server_alias()}, "|")
end
function on_subscribe(topic, alias, identity, role)
  return "deny", table.concat({topic, alias, identity, role}, "|")
end
`})
	for _, tc := range []struct {
		peer     policy.Peer
		reliable bool
		want     string
	}{
		{alice, true, "a.b|hi|7|user:alice|client|true|99"},
		{policy.Peer{Alias: 3, Role: protocol.Role_COMMUNICATION_SERVER}, false, "a.b|hi|3||server|false|99"},
		{policy.Peer{Alias: 4, Identity: []byte("h"), Role: protocol.Role_COMMUNICATION_SERVER_HUB}, true, "a.b|hi|4|h|hub|true|99"},
		{policy.Peer{Alias: 1 << 40}, true, "a.b|hi|1099511627776||unknown|true|99"},
	} {
		d := th.OnPublish(tc.peer, "a.b", []byte("hi"), tc.reliable)
		if d.Verdict != policy.Replace || string(d.Body) != tc.want {
			t.Errorf("publish: got %+v %q, want %q", d, d.Body, tc.want)
		}
	}
	if _, reason := th.OnSubscribe(alice, "a.z"); reason != "a.z|7|user:alice|client" {
		t.Errorf("subscribe saw %q", reason)
	}
}

// TestChain: several scripts govern one topic; they run in file-name order,
// each sees the body the previous one left, and the first drop wins.
func TestChain(t *testing.T) {
	th := newTestHost(t, map[string]string{
		"10_wrap.lua": `
policy = { topics = { "c.**" } }
function on_publish(topic, body) return "replace", "[" .. body .. "]" end`,
		"20_stop.lua": `
policy = { topics = { "c.stop" } }
function on_publish(topic, body) return "drop", "stopped after " .. body end`,
		"30_tag.lua": `
policy = { topics = { "c.*" } }
function on_publish(topic, body) return "replace", body .. "!" end
function on_subscribe(topic) if topic == "c.secret" then return "deny", "30 says no" end end`,
		"05_gate.lua": `
policy = { topics = { "c.secret" } }
function on_subscribe(topic) return "deny", "05 says no" end`,
		"15_latest.lua": `
policy = { topics = { "c.state" } }
function on_publish(topic, body) return "conflate" end`,
	})
	if d := th.publish(alice, "c.state", "x"); d.Verdict != policy.Replace || string(d.Body) != "[x]!" || !d.Conflate {
		t.Errorf("c.state: %+v %q, want replace [x]! and conflate (15_latest among the others)", d, d.Body)
	}
	if d := th.publish(alice, "c.go", "x"); d.Conflate {
		t.Errorf("c.go: conflate, but no script said so")
	}
	if d := th.publish(alice, "c.go", "x"); d.Verdict != policy.Replace || string(d.Body) != "[x]!" {
		t.Errorf("c.go: %+v %q, want replace [x]!", d, d.Body)
	}
	if d := th.publish(alice, "c.deep.er", "x"); d.Verdict != policy.Replace || string(d.Body) != "[x]" {
		t.Errorf("c.deep.er: %+v %q, want replace [x] (30_tag governs one level only)", d, d.Body)
	}
	if d := th.publish(alice, "c.stop", "x"); d.Verdict != policy.Drop || d.Reason != "stopped after [x]" {
		t.Errorf("c.stop: %+v, want the drop of 20_stop after 10_wrap", d)
	}
	if allow, reason := th.OnSubscribe(alice, "c.secret"); allow || reason != "05 says no" {
		t.Errorf("c.secret: (%v, %q), want the first deny in file order", allow, reason)
	}
}

// TestConnectHooks: on_connect and on_disconnect run for every peer, whatever
// the topics, and share the per-script store with the other hooks.
func TestConnectHooks(t *testing.T) {
	th := newTestHost(t, map[string]string{"presence.lua": `
policy = { topics = { "presence" } }
function on_connect(alias) broker.kv_incr("online", 1) end
function on_disconnect(alias) broker.kv_incr("online", -1) end
function on_publish() return "replace", tostring(broker.kv_get("online")) end
`})
	th.OnConnect(alice)
	th.OnConnect(bob)
	th.OnDisconnect(alice)
	if d := th.publish(bob, "presence", ""); string(d.Body) != "1" {
		t.Errorf("online = %q, want 1", d.Body)
	}
}

func TestUngovernedTopicSkipsLua(t *testing.T) {
	th := newTestHost(t, map[string]string{"boom.lua": `
policy = { topics = { "boom" } }
function on_publish() error("must not run") end
function on_subscribe() error("must not run") end`})
	if th.Governs("calm") {
		t.Fatal("Governs(calm) = true")
	}
	if d := th.publish(alice, "calm", "x"); d.Verdict != policy.Allow {
		t.Errorf("publish on an ungoverned topic: %+v", d)
	}
	if allow, _ := th.OnSubscribe(alice, "calm"); !allow {
		t.Error("subscribe to an ungoverned topic denied")
	}
	if !th.Governs("boom") {
		t.Error("Governs(boom) = false")
	}
	if th.counter(t, "broker_policy_hook_calls_total", map[string]string{"script": "boom.lua", "outcome": "error"}) != 0 {
		t.Error("a hook ran for an ungoverned topic")
	}
}

func TestNewRejects(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      string // in the error
	}{
		{"syntax.lua", "policy = {\n topics = {\"a\"}\nfunction", "syntax.lua:3:"},
		{"runtime.lua", "policy = { topics = {\"a\"} }\n\nlocal x = nil + 1", "runtime.lua:3:"},
		{"nopolicy.lua", "function on_publish() end", "no policy declaration"},
		{"notopics.lua", "policy = {}\nfunction on_publish() end", "policy.topics is missing"},
		{"emptytopics.lua", "policy = { topics = {} }\nfunction on_publish() end", "non-empty list"},
		{"badpattern.lua", "policy = { topics = {\"a b\"} }\nfunction on_publish() end", "white space"},
		{"typo.lua", "policy = { topics = {\"a\"}, failur = \"open\" }\nfunction on_publish() end", `unknown key "failur"`},
		{"badfailure.lua", "policy = { topics = {\"a\"}, failure = \"maybe\" }\nfunction on_publish() end", "policy.failure"},
		{"badtimeout.lua", "policy = { topics = {\"a\"}, timeout_ms = 0 }\nfunction on_publish() end", "timeout_ms"},
		{"nohooks.lua", "policy = { topics = {\"a\"} }", "defines none of the hooks"},
		{"nothook.lua", "policy = { topics = {\"a\"} }\non_publish = 3", "on_publish must be a function"},
		{"loop.lua", "policy = { topics = {\"a\"} }\nwhile true do end", "top level ran over"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, tc.name, tc.src)
			_, err := New(t.Context(), Options{Dir: dir, NoWatch: true})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			var le *LoadError
			if !errors.As(err, &le) || !strings.HasSuffix(le.File, tc.name) {
				t.Errorf("error %v is not a *LoadError naming the file", err)
			}
		})
	}
	if _, err := New(t.Context(), Options{}); !errors.Is(err, errNoDir) {
		t.Errorf("no dir: %v", err)
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "ok.lua", "policy = { topics = {\"a.*\", \"b\"}, failure = \"open\", timeout_ms = 20 }\nfunction on_publish() end")
	writeFile(t, dir, "bad.lua", "policy = { topics = {\"a\"} }\n\nfunction on_publish(\n")
	d, err := Check(dir + "/ok.lua")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(d.Topics, ",") != "a.*,b" || d.Failure != "open" || d.Timeout.Milliseconds() != 20 || strings.Join(d.Hooks, ",") != "on_publish" {
		t.Errorf("declaration %+v", d)
	}
	_, err = Check(dir + "/bad.lua")
	var le *LoadError
	if !errors.As(err, &le) || le.Line != 3 || le.File != dir+"/bad.lua" {
		t.Errorf("got %#v, want a *LoadError at bad.lua line 3", err)
	}
}

// TestNewRetry: a New that failed leaves the registry as it found it, so
// that New can be called again with it once the script is fixed.
func TestNewRetry(t *testing.T) {
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	writeFile(t, dir, "a.lua", "policy = {")
	if _, err := New(t.Context(), Options{Dir: dir, Registerer: reg}); err == nil {
		t.Fatal("New accepted a broken script")
	}
	writeFile(t, dir, "a.lua", tagScript("A"))
	h, err := New(t.Context(), Options{Dir: dir, Registerer: reg})
	if err != nil {
		t.Fatalf("New after the fix: %v", err)
	}
	h.Close()
}
