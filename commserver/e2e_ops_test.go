package commserver_test

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/commserver"
	"github.com/webrtc-broker/webrtc-broker/internal/testwait"
	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

// TestE2EStatsMetricsAndHealth: what an operator sees of a running server,
// its Stats and its HTTP listener, reflects the clients and their topics.
func TestE2EStatsMetricsAndHealth(t *testing.T) {
	cl := cluster.Start(t, cluster.Options{Server: func(_ int, cfg *commserver.Config) {
		cfg.HTTP.Listen = "127.0.0.1:0"
		cfg.HTTP.PProf = true
	}})
	a, b := cl.Client(t), cl.Client(t)
	subscribe(t, a, "chat")
	subscribe(t, b, "chat")

	s := cl.Server(0)
	testwait.For(t, eventTimeout, "the HTTP listener to be bound", func() bool { return s.HTTPAddr() != nil })
	if st := s.Stats(); st.Clients != 2 || !slices.Equal(st.Topics, []string{"chat"}) {
		t.Fatalf("Stats = %+v, want 2 clients subscribed to chat", st)
	}
	base := "http://" + s.HTTPAddr().String()
	for path, want := range map[string]string{
		"/healthz":      "ok",
		"/readyz":       "ok",
		"/metrics":      `commserver_peers{role="CLIENT"} 2`,
		"/debug/pprof/": "goroutine",
	} {
		if body := httpGet(t, base+path); !strings.Contains(body, want) {
			t.Errorf("GET %s: %q does not contain %q", path, body, want)
		}
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d: %s", url, resp.StatusCode, b)
	}
	return string(b)
}

// brokerGoroutines mark the stacks of goroutines that the broker's
// components start, directly or through pion: none may outlive a cluster.
var brokerGoroutines = []string{
	"webrtc-broker/commserver.",
	"webrtc-broker/commserver/luahost.",
	"webrtc-broker/coordinator.",
	"webrtc-broker/client.",
	"webrtc-broker/core/",
	"webrtc-broker/internal/rtc.",
	"webrtc-broker/test/cluster.",
	"github.com/pion/",
}

// TestE2EShutdownLeavesNoGoroutines: once a cluster has stopped (servers'
// Run and the coordinator's Serve returned, the clients closed), nothing any
// of them started is still running.
func TestE2EShutdownLeavesNoGoroutines(t *testing.T) {
	t.Run("a relay session", func(t *testing.T) {
		cl := cluster.Start(t, cluster.Options{Servers: 2})
		a, b := cl.Client(t, cl.On(0)), cl.Client(t, cl.On(1))
		subscribe(t, b, "t")
		reach(t, a, b, "t", client.Unreliable)
		if len(testwait.Goroutines(brokerGoroutines...)) == 0 {
			t.Fatal("no broker goroutine found while the cluster runs: the check below would prove nothing")
		}
	}) // its cleanups close the clients and stop the servers and the coordinator
	testwait.GoroutinesEnd(t, cluster.ReadyTimeout, "the cluster's goroutines to end", brokerGoroutines...)
}
