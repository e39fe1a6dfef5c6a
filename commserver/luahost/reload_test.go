package luahost

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/webrtc-broker/webrtc-broker/core/policy"
	"github.com/webrtc-broker/webrtc-broker/internal/testwait"
)

// tagScript governs "r.**" and replaces the body with tag, so a publish
// shows which version of which script ran.
func tagScript(tag string) string {
	return fmt.Sprintf(`
policy = { topics = { "r.**" } }
function on_publish(topic, body) return "replace", body .. %q end
`, tag)
}

func body(d policy.Decision) string {
	if d.Verdict != policy.Replace {
		return fmt.Sprintf("<%v %s>", d.Verdict, d.Reason)
	}
	return string(d.Body)
}

func TestReload(t *testing.T) {
	th := newTestHost(t, map[string]string{"a.lua": tagScript("A1")})
	if got := body(th.publish(alice, "r.x", "")); got != "A1" {
		t.Fatalf("before: %q", got)
	}

	t.Run("change", func(t *testing.T) {
		writeFile(t, th.dir, "a.lua", tagScript("A2"))
		if err := th.reload(); err != nil {
			t.Fatal(err)
		}
		if got := body(th.publish(alice, "r.x", "")); got != "A2" {
			t.Errorf("got %q, want A2", got)
		}
	})
	t.Run("add", func(t *testing.T) {
		writeFile(t, th.dir, "b.lua", tagScript("B1"))
		if err := th.reload(); err != nil {
			t.Fatal(err)
		}
		if got := body(th.publish(alice, "r.x", "")); got != "A2B1" {
			t.Errorf("got %q, want A2B1 (a.lua then b.lua)", got)
		}
	})
	t.Run("broken edit keeps the old version", func(t *testing.T) {
		writeFile(t, th.dir, "a.lua", "policy = { topics = { \"r.**\" } }\nfunction on_publish(\n  return\nend\n")
		err := th.reload()
		var le *LoadError
		if !errors.As(err, &le) || !strings.HasSuffix(le.File, "a.lua") || le.Line != 3 {
			t.Fatalf("reload: %v, want a *LoadError for a.lua line 3", err)
		}
		if got := body(th.publish(alice, "r.x", "")); got != "A2B1" {
			t.Errorf("got %q, want A2B1: the previous a.lua in force", got)
		}
		if !strings.Contains(th.logs.String(), "line=3") {
			t.Errorf("the log does not give the line:\n%s", th.logs)
		}
	})
	t.Run("a broken new file stays out", func(t *testing.T) {
		writeFile(t, th.dir, "c.lua", "policy = { topics = { \"r.**\" } }\n")
		if err := th.reload(); err == nil {
			t.Fatal("reload accepted a script without hooks")
		}
		if got := body(th.publish(alice, "r.x", "")); got != "A2B1" {
			t.Errorf("got %q", got)
		}
		os.Remove(filepath.Join(th.dir, "c.lua"))
	})
	t.Run("fix after a broken edit", func(t *testing.T) {
		writeFile(t, th.dir, "a.lua", tagScript("A3"))
		if err := th.reload(); err != nil {
			t.Fatal(err)
		}
		if got := body(th.publish(alice, "r.x", "")); got != "A3B1" {
			t.Errorf("got %q, want A3B1", got)
		}
	})
	t.Run("remove", func(t *testing.T) {
		os.Remove(filepath.Join(th.dir, "a.lua"))
		if err := th.reload(); err != nil {
			t.Fatal(err)
		}
		if got := body(th.publish(alice, "r.x", "")); got != "B1" {
			t.Errorf("got %q, want B1", got)
		}
		os.Remove(filepath.Join(th.dir, "b.lua"))
		if err := th.reload(); err != nil {
			t.Fatal(err)
		}
		if th.Governs("r.x") {
			t.Error("r.x still governed with no scripts left")
		}
	})
	t.Run("other files are ignored", func(t *testing.T) {
		writeFile(t, th.dir, "notes.txt", "not lua")
		writeFile(t, th.dir, "helper_test.lua", "this is not lua either")
		writeFile(t, th.dir, ".a.lua.swp", "nor this")
		if err := th.reload(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestReloadKeepsStore: an edit keeps the file's key/value store and rate
// buckets; removing the file drops them.
func TestReloadKeepsStore(t *testing.T) {
	counter := func(v string) string {
		return `policy = { topics = { "n" } }
function on_publish() return "replace", "` + v + `:" .. broker.kv_incr("n") end`
	}
	th := newTestHost(t, map[string]string{"n.lua": counter("v1")})
	th.publish(alice, "n", "")
	writeFile(t, th.dir, "n.lua", counter("v2"))
	if err := th.reload(); err != nil {
		t.Fatal(err)
	}
	if got := body(th.publish(alice, "n", "")); got != "v2:2" {
		t.Errorf("after an edit: %q, want v2:2", got)
	}
	os.Remove(filepath.Join(th.dir, "n.lua"))
	th.reload()
	writeFile(t, th.dir, "n.lua", counter("v3"))
	th.reload()
	if got := body(th.publish(alice, "n", "")); got != "v3:1" {
		t.Errorf("after remove and add: %q, want v3:1", got)
	}
}

// TestWatch: saving a file is picked up without a call to reload.
func TestWatch(t *testing.T) {
	th := newTestHost(t, map[string]string{"a.lua": tagScript("A1")}, watching)
	writeFile(t, th.dir, "a.lua", tagScript("A2"))
	testwait.For(t, 5*time.Second, "the edit takes effect", func() bool {
		return body(th.publish(alice, "r.x", "")) == "A2"
	})
	// A plain non-atomic write (truncate, then write) too.
	if err := os.WriteFile(filepath.Join(th.dir, "a.lua"), []byte(tagScript("A3")), 0o644); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 5*time.Second, "the in-place edit takes effect", func() bool {
		return body(th.publish(alice, "r.x", "")) == "A3"
	})
	writeFile(t, th.dir, "b.lua", tagScript("B1"))
	testwait.For(t, 5*time.Second, "the new file takes effect", func() bool {
		return body(th.publish(alice, "r.x", "")) == "A3B1"
	})
	writeFile(t, th.dir, "a.lua", "policy = {")
	testwait.For(t, 5*time.Second, "the broken edit is reported", func() bool {
		return strings.Contains(th.logs.String(), "at end of file")
	})
	if got := body(th.publish(alice, "r.x", "")); got != "A3B1" {
		t.Errorf("after a broken edit: %q, want A3B1", got)
	}
	os.Remove(filepath.Join(th.dir, "b.lua"))
	testwait.For(t, 5*time.Second, "the removal takes effect", func() bool {
		return body(th.publish(alice, "r.x", "")) == "A3"
	})
}

// TestReloadUnderLoad: publishers run while scripts are edited and reloaded.
// Two scripts edited together switch together: no publish sees one old and
// one new. Run with -race.
func TestReloadUnderLoad(t *testing.T) {
	th := newTestHost(t, map[string]string{"a.lua": tagScript("a0"), "b.lua": tagScript("b0")})
	var (
		stop     atomic.Bool
		wg       sync.WaitGroup
		bad      atomic.Value
		versions sync.Map
	)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := alice
			p.Alias = uint64(100 + i)
			for !stop.Load() {
				got := body(th.publish(p, "r.x", ""))
				if len(got) != 4 || got[1] != got[3] || got[0] != 'a' || got[2] != 'b' {
					bad.Store(got)
					return
				}
				versions.Store(got, true)
				th.Governs("r.x")
				th.OnSubscribe(p, "r.y")
			}
		}()
	}
	for v := 1; v <= 9; v++ {
		writeFile(t, th.dir, "a.lua", tagScript(fmt.Sprint("a", v)))
		writeFile(t, th.dir, "b.lua", tagScript(fmt.Sprint("b", v)))
		if err := th.reload(); err != nil {
			t.Fatal(err)
		}
	}
	// Publishers keep going until they have seen the last version.
	testwait.For(t, 10*time.Second, "publishers see the last version", func() bool {
		_, ok := versions.Load("a9b9")
		return ok || bad.Load() != nil
	})
	stop.Store(true)
	wg.Wait()
	if v := bad.Load(); v != nil {
		t.Fatalf("a publish saw a mixed or failed result %q", v)
	}
}

// TestReloadOnSignal: SIGHUP (here sent to this test process) reloads.
func TestReloadOnSignal(t *testing.T) {
	th := newTestHost(t, map[string]string{"a.lua": tagScript("A1")})
	th.ReloadOnSignal(syscall.SIGHUP)
	writeFile(t, th.dir, "a.lua", tagScript("A2"))
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 5*time.Second, "SIGHUP reloads", func() bool {
		return body(th.publish(alice, "r.x", "")) == "A2"
	})
	th.Close()
}

// TestCallInFlightFinishesOnOldVersion: a reload does not touch a call that
// has started; it ends with the version it began with, and the next call
// gets the new one.
func TestCallInFlightFinishesOnOldVersion(t *testing.T) {
	version := func(v string) string {
		return `policy = { topics = { "slow" }, timeout_ms = 1000 }
function on_publish()
  broker.kv_set("waiting", true)
  while not broker.kv_get("go") do end
  return "replace", "` + v + `"
end`
	}
	th := newTestHost(t, map[string]string{"s.lua": version("old")})
	st := th.snap.Load().scripts[0].store
	inFlight := make(chan string, 1)
	go func() { inFlight <- body(th.publish(alice, "slow", "")) }()
	testwait.For(t, 5*time.Second, "the call is running", func() bool { return st.get("waiting") == lua.LTrue })

	writeFile(t, th.dir, "s.lua", version("new"))
	if err := th.reload(); err != nil {
		t.Fatal(err)
	}
	st.set("go", lua.LTrue) // the store is the file's: both versions see it
	if got := <-inFlight; got != "old" {
		t.Errorf("the call in flight ended with %q, want old", got)
	}
	if got := body(th.publish(alice, "slow", "")); got != "new" {
		t.Errorf("the next call: %q, want new", got)
	}
}
