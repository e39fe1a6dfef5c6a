package cluster

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/commserver"
)

func TestStartRegistersMeshesAndRestartsTheCoordinator(t *testing.T) {
	c := Start(t, Options{Servers: 2})
	for i := range 2 {
		st := c.Server(i).Stats()
		if st.Alias == 0 || !st.CoordinatorConnected || st.Servers != 1 {
			t.Fatalf("server %d after Start: %+v", i, st)
		}
	}
	if !strings.HasPrefix(c.URL(), "ws://127.0.0.1:") {
		t.Fatalf("URL %q is not on loopback", c.URL())
	}
	cl := c.Client(t, c.On(1))
	if cl.ServerAlias() != c.Server(1).Stats().Alias {
		t.Fatalf("On(1) put the client on %d, want server 1 (%d)", cl.ServerAlias(), c.Server(1).Stats().Alias)
	}

	url := c.URL()
	old := c.Server(0).Stats().Alias
	c.StopCoordinator(t)
	c.StopCoordinator(t) // idempotent
	WaitFor(t, EventTimeout, "server 0 to see the coordinator gone", func() bool {
		return !c.Server(0).Stats().CoordinatorConnected
	})
	c.StartCoordinator(t)
	c.WaitReady(t)
	if c.URL() != url {
		t.Fatalf("URL changed across the restart: %q, then %q", url, c.URL())
	}
	if c.Server(0).Stats().Alias == old {
		t.Fatal("server 0 kept its alias across a coordinator restart")
	}
	if got := c.Counter(t, 0, "commserver_peers", map[string]string{"role": "CLIENT"}); got != 0 {
		t.Fatalf("server 0 counts %v clients, want 0", got)
	}
}

func TestExpectedLinks(t *testing.T) {
	cases := []struct {
		name string
		opts Options
		want []int
	}{
		{"mesh", Options{}, []int{2, 2, 2}},
		{"star with a hub", Options{Selector: "star", Hub: true}, []int{2, 1, 1}},
		{"star without a hub", Options{Selector: "star"}, []int{0, 0, 0}},
	}
	for _, tc := range cases {
		c := &Cluster{opts: tc.opts, servers: make([]*commserver.Server, 3)}
		for i, want := range tc.want {
			if got := c.ExpectedLinks(i); got != want {
				t.Errorf("%s: ExpectedLinks(%d) = %d, want %d", tc.name, i, got, want)
			}
		}
	}
}

// recorder is a testing.TB whose Fatalf ends only the goroutine that called
// it, so that a test can check that a helper fails, and how.
type recorder struct {
	testing.TB
	mu  sync.Mutex
	msg string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.mu.Lock()
	r.msg = fmt.Sprintf(format, args...)
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *recorder) Logf(string, ...any) {}

// run calls f with r in a goroutine and returns the Fatalf message, if any.
func (r *recorder) run(f func(testing.TB)) string {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.msg
}

func TestWaitFor(t *testing.T) {
	r := &recorder{TB: t}
	n := 0
	if msg := r.run(func(tb testing.TB) { WaitFor(tb, time.Second, "n to reach 3", func() bool { n++; return n == 3 }) }); msg != "" {
		t.Fatalf("WaitFor failed: %s", msg)
	}
	r = &recorder{TB: t}
	msg := r.run(func(tb testing.TB) { WaitFor(tb, 20*time.Millisecond, "the impossible", func() bool { return false }) })
	if !strings.Contains(msg, "the impossible") {
		t.Fatalf("WaitFor's failure %q does not say what it waited for", msg)
	}
}

func TestBodyMatchesTopicMessagesOnly(t *testing.T) {
	match := Body("t", "b")
	cases := []struct {
		m    client.Message
		want bool
	}{
		{client.Message{Type: 10, Topic: "t", Body: []byte("b")}, true},
		{client.Message{Type: 12, Topic: "t", Body: []byte("b")}, true},
		{client.Message{Type: 10, Topic: "t", Body: []byte("c")}, false},
		{client.Message{Type: 10, Topic: "u", Body: []byte("b")}, false},
		{client.Message{Type: 14, Topic: "t", Body: []byte("b")}, false},
	}
	for _, tc := range cases {
		if got := match(tc.m); got != tc.want {
			t.Errorf("Body(t, b)(%+v) = %v, want %v", tc.m, got, tc.want)
		}
	}
}
