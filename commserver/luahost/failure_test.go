package luahost

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/webrtc-broker/webrtc-broker/core/policy"
)

// failingScript misbehaves on demand; %s is its failure mode.
const failingScript = `
policy = { topics = { "f.*" }, failure = "%s", timeout_ms = 100 }
function on_publish(topic, body)
  if body == "loop" then while true do end end
  -- pcall cannot swallow the deadline: the instruction after it is cut too.
  if body == "pcall-loop" then while true do pcall(function() while true do end end) end end
  if body == "error" then error("boom") end
  if body == "bad" then return {} end
  return "allow"
end
function on_subscribe(topic)
  if topic == "f.loop" then while true do end end
  if topic == "f.error" then error("boom") end
end
`

func TestFailureModes(t *testing.T) {
	for _, mode := range []string{"closed", "open"} {
		th := newTestHost(t, map[string]string{"f.lua": fmt.Sprintf(failingScript, mode)})
		wantPub := policy.Decision{Verdict: policy.Drop, Reason: failureReason}
		wantSub := false
		if mode == "open" {
			wantPub, wantSub = policy.Decision{Verdict: policy.Allow}, true
		}
		for _, body := range []string{"error", "bad", "loop", "pcall-loop"} {
			t.Run(mode+"/publish/"+body, func(t *testing.T) {
				start := time.Now()
				got := th.publish(alice, "f.x", body)
				if got.Verdict != wantPub.Verdict || got.Reason != wantPub.Reason {
					t.Errorf("got %+v, want %+v", got, wantPub)
				}
				// 100ms declared; a generous bound, the point is that it ends.
				if took := time.Since(start); took > time.Second {
					t.Errorf("took %v", took)
				}
				// The script keeps working for well-behaved messages.
				if d := th.publish(alice, "f.x", "fine"); d.Verdict != policy.Allow {
					t.Errorf("next message: %+v", d)
				}
			})
		}
		for _, topic := range []string{"f.error", "f.loop"} {
			t.Run(mode+"/subscribe/"+topic, func(t *testing.T) {
				if allow, _ := th.OnSubscribe(alice, topic); allow != wantSub {
					t.Errorf("allow = %v, want %v", allow, wantSub)
				}
			})
		}
		for outcome, want := range map[string]float64{"error": 2, "timeout": 2} {
			got := th.counter(t, "broker_policy_hook_calls_total", map[string]string{"script": "f.lua", "hook": "on_publish", "outcome": outcome})
			if got != want {
				t.Errorf("%s: %s calls counted %v, want %v", mode, outcome, got, want)
			}
		}
	}
}

// TestTimeoutDiscardsState: a state whose deadline fired is closed, not put
// back. The pool is filled when the script loads, so callers never wait for a
// state to be made.
func TestTimeoutDiscardsState(t *testing.T) {
	th := newTestHost(t, map[string]string{"f.lua": fmt.Sprintf(failingScript, "closed")})
	s := th.snap.Load().scripts[0]
	full := s.pool.max
	if n := s.pool.live.Load(); n != full {
		t.Fatalf("live states after load: %d, want the full pool of %d", n, full)
	}
	th.publish(alice, "f.x", "loop")
	if n := s.pool.live.Load(); n != full-1 {
		t.Fatalf("live states after a time-out: %d, want %d", n, full-1)
	}
	if d := th.publish(alice, "f.x", "fine"); d.Verdict != policy.Allow {
		t.Fatalf("next call: %+v, want allow from a healthy state", d)
	}
	if n := len(s.pool.free); int32(n) != full-1 {
		t.Fatalf("free states after the next call: %d, want %d (the timed-out one is gone)", n, full-1)
	}
}

// TestFailureLoggedOnce: a script failing on every message is logged once
// per kind, not once per message.
func TestFailureLoggedOnce(t *testing.T) {
	th := newTestHost(t, map[string]string{"f.lua": fmt.Sprintf(failingScript, "closed")})
	for range 20 {
		th.publish(alice, "f.x", "error")
	}
	th.publish(alice, "f.x", "loop")
	th.publish(alice, "f.x", "loop")
	if n := th.logs.count("policy script failed"); n != 1 {
		t.Errorf("error logged %d times, want 1:\n%s", n, th.logs)
	}
	if n := th.logs.count("policy script timed out"); n != 1 {
		t.Errorf("time-out logged %d times, want 1:\n%s", n, th.logs)
	}
}

// TestWaiterGetsDiscardedSlot: with the pool full, a caller waiting for a
// state gets a fresh one as soon as a timed-out state is discarded, instead
// of waiting out its own time-out.
func TestWaiterGetsDiscardedSlot(t *testing.T) {
	var made atomic.Int32
	p := newPool(1, func() (*lstate, error) {
		made.Add(1)
		return newLState(lua.NewState(lua.Options{SkipOpenLibs: true}), nil), nil
	})
	first, err := p.get(time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		_, err := p.get(time.Minute)
		got <- err
	}()
	p.discard(first)
	select {
	case err := <-got:
		if err != nil || made.Load() != 2 {
			t.Fatalf("waiter: %v, states made %d, want a second one", err, made.Load())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiter was not woken by the discard")
	}
}

func TestPoolBusy(t *testing.T) {
	made := 0
	p := newPool(1, func() (*lstate, error) {
		made++
		st := &lstate{}
		return st, nil
	})
	st, err := p.get(time.Millisecond)
	if err != nil || made != 1 {
		t.Fatalf("first get: %v, made %d", err, made)
	}
	if _, err := p.get(10 * time.Millisecond); !errors.Is(err, errBusy) {
		t.Fatalf("second get with the only state taken: %v, want errBusy", err)
	}
	p.put(st)
	if got, err := p.get(time.Millisecond); err != nil || got != st || made != 1 {
		t.Fatalf("get after put: %v, same state %v, made %d", err, got == st, made)
	}
}
