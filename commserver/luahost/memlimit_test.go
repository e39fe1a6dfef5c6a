package luahost

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/core/policy"
)

// heapAfterGC is the live heap once the collector has run twice (the
// second run frees what the first one's finalizers released).
func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func poolOf(n int) hostOption { return func(o *Options) { o.PoolSize = n } }

// retainingScript keeps 1 MiB per call in a global table: memory that only
// discarding the state gives back.
const retainingScript = `
policy = { topics = { "m.*" }, failure = "%s" }
keep = {}
function on_publish(topic, body)
  keep[#keep + 1] = string.rep("x", 1048576)
  return "allow"
end
`

// TestMemoryRetainedAcrossCallsBounded: a hook that keeps 1 MiB per call is
// stopped once its state holds more than the budget: the state is
// discarded, the failure mode applies, and it is logged and counted. The
// host's heap stays bounded over 400 calls (unbounded, it grew by 400 MiB).
func TestMemoryRetainedAcrossCallsBounded(t *testing.T) {
	for _, mode := range []string{"closed", "open"} {
		t.Run(mode, func(t *testing.T) {
			before := heapAfterGC()
			th := newTestHost(t, map[string]string{"m.lua": fmt.Sprintf(retainingScript, mode)}, poolOf(4))
			failed := 0
			for range 400 {
				d := th.publish(alice, "m.x", "x")
				switch {
				case mode == "closed" && d.Verdict == policy.Drop && d.Reason == failureReason:
					failed++
				case mode == "open" && d.Verdict == policy.Allow:
				case mode == "closed" && d.Verdict == policy.Allow:
				default:
					t.Fatalf("verdict %+v", d)
				}
			}
			growth := int64(heapAfterGC()) - int64(before)
			t.Logf("heap growth over 400 calls: %.1f MiB", float64(growth)/(1<<20))
			if growth > 64<<20 {
				t.Errorf("heap grew by %.1f MiB, want < 64 MiB", float64(growth)/(1<<20))
			}
			n := th.counter(t, "broker_policy_hook_calls_total", map[string]string{"script": "m.lua", "hook": "on_publish", "outcome": "memory"})
			if n == 0 {
				t.Errorf("no call counted with outcome memory")
			}
			if mode == "closed" && float64(failed) != n {
				t.Errorf("%d calls failed closed, %v counted", failed, n)
			}
			if c := th.counter(t, "broker_policy_memory_limit_total", map[string]string{"script": "m.lua", "hook": "on_publish"}); c != n {
				t.Errorf("broker_policy_memory_limit_total = %v, want %v", c, n)
			}
			if logs := th.logs.String(); !strings.Contains(logs, "policy script over its memory limit") || !strings.Contains(logs, "script=m.lua") {
				t.Errorf("memory limit not logged:\n%s", logs)
			}
		})
	}
}

// TestMemoryTopLevelRefused: a top level that builds a huge table fails the
// load with an error that says so, instead of costing that much once per
// pooled state.
func TestMemoryTopLevelRefused(t *testing.T) {
	// The memory limit must stop these top levels, not the time limit: on
	// a loaded machine (-race, other packages' tests) they can take over a
	// second to reach it.
	defer func(d time.Duration) { loadTimeout = d }(loadTimeout)
	loadTimeout = time.Minute
	for name, build := range map[string]string{
		"strings":       `for i = 1, 150 do big[i] = string.rep("x", 1048576) end`,
		"small strings": `for i = 1, 150000 do big[i] = string.rep("x", 1000) .. i end`,
		"tables":        `for i = 1, 500000 do big[i] = { i, i, i, i } end`,
	} {
		t.Run(name, func(t *testing.T) {
			before := heapAfterGC()
			dir := t.TempDir()
			writeFile(t, dir, "big.lua", "policy = { topics = { \"m.*\" } }\nbig = {}\n"+build+"\nfunction on_publish() end\n")
			h, err := New(context.Background(), Options{Dir: dir, NoWatch: true, PoolSize: 4})
			if err == nil {
				h.retireAll()
				h.Close()
				t.Fatal("a top level holding a huge table loaded")
			}
			var le *LoadError
			if !errors.As(err, &le) || !strings.Contains(le.Msg, "memory limit") {
				t.Fatalf("err = %v, want a LoadError about the memory limit", err)
			}
			t.Logf("load error: %v", err)
			if growth := int64(heapAfterGC()) - int64(before); growth > 64<<20 {
				t.Errorf("heap grew by %.1f MiB after a refused load", float64(growth)/(1<<20))
			}
		})
	}
}

// TestMemoryWithinCallBounded: calls that each build a huge local table
// are cut mid-way, so three at once do not add up to gigabytes. The
// process's cumulative allocation over the calls is what is bounded: it
// counts what the calls built even though it is garbage afterwards.
func TestMemoryWithinCallBounded(t *testing.T) {
	const src = `
policy = { topics = { "m.*" } }
function on_publish(topic, body)
  local t = {}
  for i = 1, 200 do t[i] = string.rep("x", 1048576) end
  return "allow"
end
`
	th := newTestHost(t, map[string]string{"m.lua": src}, poolOf(4))
	before := allocatedBytes()
	var wg sync.WaitGroup
	verdicts := make([]policy.Decision, 3)
	for i := range verdicts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			verdicts[i] = th.publish(alice, "m.x", "x")
		}()
	}
	wg.Wait()
	allocated := allocatedBytes() - before
	t.Logf("allocated during 3 growing calls: %.1f MiB", float64(allocated)/(1<<20))
	for i, d := range verdicts {
		if d.Verdict != policy.Drop || d.Reason != failureReason {
			t.Errorf("call %d: %+v, want the closed failure mode", i, d)
		}
	}
	if allocated > 96<<20 {
		t.Errorf("3 calls allocated %.1f MiB, want < 96 MiB (unbounded: 600)", float64(allocated)/(1<<20))
	}
	if n := th.counter(t, "broker_policy_hook_calls_total", map[string]string{"script": "m.lua", "hook": "on_publish", "outcome": "memory"}); n != 3 {
		t.Errorf("memory outcomes counted: %v, want 3", n)
	}
}
