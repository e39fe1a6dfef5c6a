package commserver_test

import (
	"fmt"
	"testing"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

// loopForever governs loop.** and never returns: every call it is allowed
// to make burns its whole time limit.
const loopForever = `
policy = { topics = { "loop.**" }, failure = "closed", timeout_ms = 20 }
function on_publish(topic, body)
  while true do end
end
`

// TestLuaLoopingScriptTripsAndSparesOtherTopics: while one client floods a
// topic governed by an endless loop, another client's messages on a topic
// no script governs all arrive, and the script's breaker opens, after
// which its calls fail closed without running Lua.
func TestLuaLoopingScriptTripsAndSparesOtherTopics(t *testing.T) {
	pc := startPolicyCluster(t, nil, map[string]string{"loop.lua": loopForever})
	attacker, sender, watcher := pc.as(t, "user:attacker"), pc.as(t, "user:sender"), pc.as(t, "user:watcher")
	subscribe(t, watcher, "free.x", "loop.x")

	const n = 60
	for i := range n {
		publish(t, attacker, "loop.x", fmt.Sprint("attack-", i), client.Reliable)
		publish(t, sender, "free.x", fmt.Sprint("free-", i), client.Reliable)
	}
	publish(t, sender, "free.x", "end", client.Reliable)
	// The PING echo comes after the server handled every attacking message.
	ping(t, attacker, client.Reliable)

	got := 0
	for {
		m := cluster.Next(t, watcher, eventTimeout)
		if m.Topic == "loop.x" {
			t.Fatalf("a message of the looping script's topic was relayed: %q", m.Body)
		}
		if string(m.Body) == "end" {
			break
		}
		if want := fmt.Sprint("free-", got); string(m.Body) != want {
			t.Fatalf("ungoverned message %q, want %q", m.Body, want)
		}
		got++
	}
	if got != n {
		t.Errorf("%d of %d ungoverned messages arrived", got, n)
	}

	timeouts := pc.hookCalls(t, "loop.lua", "timeout")
	tripped := pc.hookCalls(t, "loop.lua", "tripped")
	trips := pc.Counter(t, 0, "broker_policy_breaker_trips_total", map[string]string{"script": "loop.lua"})
	t.Logf("of %d attacking messages: %v ran into the time-out, %v were refused by the open breaker; %v trips", n, timeouts, tripped, trips)
	if trips < 1 {
		t.Errorf("the breaker did not trip")
	}
	if timeouts < 5 || timeouts+tripped != n {
		t.Errorf("time-outs %v + tripped %v, want at least 5 time-outs and %d in all", timeouts, tripped, n)
	}
	// At most one trial per cool-down runs once the breaker is open.
	if tripped < n/2 {
		t.Errorf("only %v calls skipped Lua: the breaker did not hold", tripped)
	}
	stillConnected(t, attacker, sender, watcher)
}
