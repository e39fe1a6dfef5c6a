package luahost

import (
	"strings"
	"sync"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/webrtc-broker/webrtc-broker/core/policy"
)

// loopingScript counts every call that really runs in its store before it
// loops (or not), so a test sees which calls reached Lua.
const loopingScript = `
policy = { topics = { "b.*" }, failure = "closed", timeout_ms = 20 }
function on_publish(topic, body)
  broker.kv_incr("runs")
  if body == "loop" then while true do end end
  return "allow"
end
`

// manualClock is a clock the test moves.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func withClock(c *manualClock) hostOption { return func(o *Options) { o.Clock = c.Now } }

// kvNumber reads a number from a script's store, 0 if absent.
func (th *testHost) kvNumber(t *testing.T, script, key string) float64 {
	t.Helper()
	th.reloadMu.Lock()
	st := th.stores[script]
	th.reloadMu.Unlock()
	if n, ok := st.get(key).(lua.LNumber); ok {
		return float64(n)
	}
	return 0
}

// TestBreakerTrips: after breakerTrips consecutive time-outs a script's calls
// fail per its mode without running Lua, until the cool-down; then one trial
// call runs, and a healthy one closes the breaker.
func TestBreakerTrips(t *testing.T) {
	clock := &manualClock{now: time.Unix(1_700_000_000, 0)}
	th := newTestHost(t, map[string]string{"b.lua": loopingScript}, withClock(clock))
	closedFail := policy.Decision{Verdict: policy.Drop, Reason: failureReason}
	for range breakerTrips {
		if d := th.publish(alice, "b.x", "loop"); d.Verdict != closedFail.Verdict || d.Reason != closedFail.Reason {
			t.Fatalf("looping call: %+v", d)
		}
	}
	labels := map[string]string{"script": "b.lua", "hook": "on_publish"}
	with := func(k, v string) map[string]string {
		m := map[string]string{k: v}
		for a, b := range labels {
			m[a] = b
		}
		return m
	}
	if n := th.counter(t, "broker_policy_hook_calls_total", with("outcome", "timeout")); n != breakerTrips {
		t.Fatalf("time-outs counted %v, want %d", n, breakerTrips)
	}
	if n := th.counter(t, "broker_policy_breaker_trips_total", map[string]string{"script": "b.lua"}); n != 1 {
		t.Fatalf("breaker trips counted %v, want 1", n)
	}
	if g := th.gauge(t, "broker_policy_breaker_open", map[string]string{"script": "b.lua"}); g != 1 {
		t.Fatalf("breaker_open = %v, want 1", g)
	}
	if !strings.Contains(th.logs.String(), "policy script breaker open") {
		t.Errorf("trip not logged:\n%s", th.logs)
	}
	ran := th.kvNumber(t, "b.lua", "runs")
	// Open: even healthy messages fail closed, and Lua does not run.
	for _, body := range []string{"loop", "fine", "loop"} {
		if d := th.publish(alice, "b.x", body); d.Verdict != closedFail.Verdict || d.Reason != closedFail.Reason {
			t.Fatalf("call on an open breaker: %+v, want the closed failure mode", d)
		}
	}
	if got := th.kvNumber(t, "b.lua", "runs"); got != ran {
		t.Fatalf("calls that ran Lua while open: %v, want none", got-ran)
	}
	if n := th.counter(t, "broker_policy_hook_calls_total", with("outcome", "tripped")); n != 3 {
		t.Fatalf("tripped calls counted %v, want 3", n)
	}
	// Half-open after the cool-down: a trial that times out again reopens.
	clock.advance(breakerCooldown)
	th.publish(alice, "b.x", "loop")
	if got := th.kvNumber(t, "b.lua", "runs"); got != ran+1 {
		t.Fatalf("trial calls run: %v, want 1", got-ran)
	}
	if d := th.publish(alice, "b.x", "fine"); d.Verdict != policy.Drop {
		t.Fatalf("call after a failed trial: %+v, want still open", d)
	}
	if n := th.counter(t, "broker_policy_breaker_trips_total", map[string]string{"script": "b.lua"}); n != 2 {
		t.Fatalf("breaker trips counted %v, want 2 (the failed trial reopens it)", n)
	}
	// A healthy trial closes it.
	clock.advance(breakerCooldown)
	if d := th.publish(alice, "b.x", "fine"); d.Verdict != policy.Allow {
		t.Fatalf("healthy trial: %+v, want allow", d)
	}
	if d := th.publish(alice, "b.x", "fine"); d.Verdict != policy.Allow {
		t.Fatalf("after the breaker closed: %+v, want allow", d)
	}
	if g := th.gauge(t, "broker_policy_breaker_open", map[string]string{"script": "b.lua"}); g != 0 {
		t.Fatalf("breaker_open = %v, want 0", g)
	}
	if !strings.Contains(th.logs.String(), "policy script breaker closed") {
		t.Errorf("close not logged:\n%s", th.logs)
	}
}

// TestBreakerResetByEdit: an edited script is a new version with a closed
// breaker.
func TestBreakerResetByEdit(t *testing.T) {
	clock := &manualClock{now: time.Unix(1_700_000_000, 0)}
	th := newTestHost(t, map[string]string{"b.lua": loopingScript}, withClock(clock))
	for range breakerTrips {
		th.publish(alice, "b.x", "loop")
	}
	if d := th.publish(alice, "b.x", "fine"); d.Verdict != policy.Drop {
		t.Fatalf("breaker did not trip: %+v", d)
	}
	writeFile(t, th.dir, "b.lua", strings.Replace(loopingScript, `if body == "loop" then while true do end end`, "", 1))
	if err := th.reload(); err != nil {
		t.Fatal(err)
	}
	if d := th.publish(alice, "b.x", "loop"); d.Verdict != policy.Allow {
		t.Fatalf("edited script: %+v, want allow", d)
	}
}

// TestBreakerCountsConsecutive: time-outs separated by healthy calls do not
// trip it.
func TestBreakerCountsConsecutive(t *testing.T) {
	th := newTestHost(t, map[string]string{"b.lua": loopingScript})
	for range 3 * breakerTrips {
		th.publish(alice, "b.x", "loop")
		if d := th.publish(alice, "b.x", "fine"); d.Verdict != policy.Allow {
			t.Fatalf("healthy call between time-outs: %+v", d)
		}
	}
}
