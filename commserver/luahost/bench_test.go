package luahost

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/core/policy"
)

// shippedRules loads the rules of scripts/ as a server would.
func shippedRules(tb testing.TB) map[string]string {
	tb.Helper()
	files := map[string]string{}
	for _, name := range []string{"size_cap.lua", "rate_limit.lua", "announce_acl.lua", "stamp_time.lua"} {
		src, err := os.ReadFile(filepath.Join("..", "..", "scripts", name))
		if err != nil {
			tb.Fatal(err)
		}
		files[name] = string(src)
	}
	return files
}

// TestGovernsDoesNotAllocate: the per-message question "does any rule
// govern this topic?" costs no allocation, governed or not, once the topic
// is cached.
func TestGovernsDoesNotAllocate(t *testing.T) {
	th := newTestHost(t, shippedRules(t))
	for _, topic := range []string{"lobby", "chat.lobby", "game.pos"} {
		th.Governs(topic)
		topicCopy := string([]byte(topic)) // not the literal the cache holds
		if n := testing.AllocsPerRun(1000, func() { th.Governs(topicCopy) }); n != 0 {
			t.Errorf("Governs(%q) allocates %v times", topic, n)
		}
	}
	// OnPublish and OnSubscribe on an ungoverned topic do not either.
	body := []byte("hello")
	if n := testing.AllocsPerRun(1000, func() { th.OnPublish(alice, "lobby", body, true) }); n != 0 {
		t.Errorf("OnPublish on an ungoverned topic allocates %v times", n)
	}
	if n := testing.AllocsPerRun(1000, func() { th.OnSubscribe(alice, "lobby") }); n != 0 {
		t.Errorf("OnSubscribe on an ungoverned topic allocates %v times", n)
	}
	// An empty directory: no scripts at all.
	empty := newTestHost(t, nil)
	if n := testing.AllocsPerRun(1000, func() { empty.Governs("lobby") }); n != 0 {
		t.Errorf("Governs with no scripts allocates %v times", n)
	}
}

func benchHost(b *testing.B) *testHost {
	b.Helper()
	files := shippedRules(b)
	dir := b.TempDir()
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	h, err := New(b.Context(), Options{Dir: dir, NoWatch: true, ServerAlias: func() uint64 { return 1 },
		// Speed, not deadlines, is measured here: a loaded machine must not
		// turn a slow scheduling moment into a time-out.
		DefaultTimeout: time.Second, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		b.Fatal(err)
	}
	return &testHost{Host: h, dir: dir}
}

// BenchmarkOnPublish is the added cost per message of each shipped rule on
// a 100-byte body: one call, start to verdict, on one goroutine.
func BenchmarkOnPublish(b *testing.B) {
	for _, bc := range []struct {
		name, topic string
	}{
		{"size_cap", "chat.lobby"},
		{"rate_limit", "game.pos"}, // 1000 peers in turn: allow and drop paths
		{"announce_acl", "announce.news"},
		{"stamp_time", "feed.prices"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h := benchHost(b)
			p := benchPeer()
			h.OnPublish(p, bc.topic, benchBody, true)
			b.ReportAllocs()
			for b.Loop() {
				p.Alias = 1 + p.Alias%1000
				h.OnPublish(p, bc.topic, benchBody, true)
			}
		})
	}
}

// BenchmarkOnPublishParallel is size_cap.lua from every core at once: the
// pool of states and the shared store under contention.
func BenchmarkOnPublishParallel(b *testing.B) {
	h := benchHost(b)
	h.OnPublish(benchPeer(), "chat.lobby", benchBody, true)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		p := benchPeer()
		for pb.Next() {
			if d := h.OnPublish(p, "chat.lobby", benchBody, true); d.Verdict != policy.Allow {
				b.Errorf("not allowed: %+v", d)
				return
			}
		}
	})
}

var benchBody = []byte(`{"symbol":"ACME","price":12.5,"text":"` + fmt.Sprintf("%060d", 0) + `"}`)

func benchPeer() policy.Peer {
	return policy.Peer{Alias: 1, Identity: []byte("staff:alice"), Role: alice.Role}
}

// BenchmarkUngoverned is Governs for a topic no script governs, with the
// shipped rules loaded: the cost every message pays.
func BenchmarkUngoverned(b *testing.B) {
	h := benchHost(b)
	h.Governs("lobby")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if h.Governs("lobby") {
			b.Fatal("governed")
		}
	}
}

// BenchmarkGovernsParallel is the same lookup from all cores at once.
func BenchmarkGovernsParallel(b *testing.B) {
	h := benchHost(b)
	h.Governs("lobby")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h.Governs("lobby")
		}
	})
}

// BenchmarkMeasureState is one memory measurement of a size_cap.lua state:
// what a call pays when its check falls due (after about 1 MiB of possible
// growth, or as much as the state held).
func BenchmarkMeasureState(b *testing.B) {
	h := benchHost(b)
	var s *script
	for _, sc := range h.snap.Load().scripts {
		if sc.name == "size_cap.lua" {
			s = sc
		}
	}
	st, err := s.pool.get(time.Second)
	if err != nil {
		b.Fatal(err)
	}
	defer s.pool.put(st)
	b.ReportAllocs()
	for b.Loop() {
		if err := st.checkMemory(false); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(st.mem.size), "state-bytes")
}
