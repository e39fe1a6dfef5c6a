package luahost

import (
	"strings"
	"testing"

	"github.com/webrtc-broker/webrtc-broker/core/policy"
)

// probeScript reports, as a replaced body, which of the names in the
// published body resolve to something in the script's environment.
const probeScript = `
policy = { topics = { "probe" } }
local function resolve(path)
  local v = _G
  for part in path:gmatch("[^.]+") do
    if type(v) ~= "table" then return nil end
    v = v[part]
  end
  return v
end
function on_publish(topic, body)
  local present = {}
  for name in body:gmatch("%S+") do
    if resolve(name) ~= nil then present[#present + 1] = name end
  end
  return "replace", table.concat(present, " ")
end
`

func TestSandbox(t *testing.T) {
	th := newTestHost(t, map[string]string{"probe.lua": probeScript})
	absent := []string{
		"io", "os", "debug", "package", "require", "module", "coroutine", "channel",
		"load", "loadstring", "loadfile", "dofile", "collectgarbage", "getfenv", "setfenv",
		"newproxy", "_printregs", "string.dump", "math.randomseed",
	}
	if d := th.publish(alice, "probe", strings.Join(absent, " ")); string(d.Body) != "" {
		t.Errorf("reachable from a script, and should not be: %s", d.Body)
	}
	present := []string{
		"pairs", "ipairs", "pcall", "error", "tostring", "tonumber", "type", "select", "setmetatable",
		"string.format", "string.find", "string.rep", "table.concat", "table.insert", "math.floor", "math.random",
		"broker.log", "broker.now", "broker.server_alias", "broker.rate_limit",
		"broker.kv_get", "broker.kv_set", "broker.kv_incr", "broker.json_encode", "broker.json_decode",
	}
	if d := th.publish(alice, "probe", strings.Join(present, " ")); string(d.Body) != strings.Join(present, " ") {
		t.Errorf("available: %q, want all of %q", d.Body, present)
	}
}

// TestSandboxLimits: what would exhaust the server inside one Go call (where
// the deadline cannot cut) or the Lua stacks is an error, and the failure
// mode applies.
func TestSandboxLimits(t *testing.T) {
	th := newTestHost(t, map[string]string{"greedy.lua": `
policy = { topics = { "greedy.*" } }
local function recurse(n) return 1 + recurse(n + 1) end
local function deep(n) if n == 0 then return 0 end return deep(n - 1) + 1 end
function on_publish(topic, body)
  if topic == "greedy.rep" then return "replace", string.rep("x", 1e9) end
  if topic == "greedy.rep-method" then return "replace", ("xy"):rep(1e9) end
  if topic == "greedy.rep-ok" then return "replace", #string.rep("ab", 1000) .. "" end
  if topic == "greedy.recurse" then return "replace", recurse(1) end
  if topic == "greedy.unpack" then return "replace", select("#", unpack({}, 1, 1e7)) end
  if topic == "greedy.deep-ok" then return "replace", deep(150) .. "" end
end
`})
	for _, tc := range []struct {
		topic string
		want  policy.Decision
	}{
		{"greedy.rep", policy.Decision{Verdict: policy.Drop, Reason: failureReason}},
		{"greedy.rep-method", policy.Decision{Verdict: policy.Drop, Reason: failureReason}},
		{"greedy.recurse", policy.Decision{Verdict: policy.Drop, Reason: failureReason}},
		{"greedy.unpack", policy.Decision{Verdict: policy.Drop, Reason: failureReason}},
		{"greedy.rep-ok", policy.Decision{Verdict: policy.Replace, Body: []byte("2000")}},
		{"greedy.deep-ok", policy.Decision{Verdict: policy.Replace, Body: []byte("150")}},
	} {
		t.Run(tc.topic, func(t *testing.T) {
			got := th.publish(alice, tc.topic, "")
			if got.Verdict != tc.want.Verdict || got.Reason != tc.want.Reason || string(got.Body) != string(tc.want.Body) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	// The server is still answering after all that.
	if d := th.publish(alice, "greedy.rep-ok", ""); d.Verdict != policy.Replace {
		t.Errorf("after the failures: %+v", d)
	}
}

func TestScriptLogging(t *testing.T) {
	th := newTestHost(t, map[string]string{"talk.lua": `
policy = { topics = { "talk" } }
function on_publish(topic, body)
  broker.log("warn", "heard " .. body)
  print("printed", body, 3)
end
`})
	th.publish(alice, "talk", "hello")
	logs := th.logs.String()
	for _, want := range []string{`level=WARN msg="heard hello" script=talk.lua`, `level=DEBUG msg="printed\thello\t3" script=talk.lua`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
}
