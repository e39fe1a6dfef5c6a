package client_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/commserver"
	"github.com/webrtc-broker/webrtc-broker/commserver/luahost"
	"github.com/webrtc-broker/webrtc-broker/internal/testwait"
	"github.com/webrtc-broker/webrtc-broker/protocol"
	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

// End-to-end tests of reconnection against real servers and a real
// coordinator (test/cluster): servers are stopped as a crash looks to their
// peers, the coordinator is stopped and restarted on its port.

// reconnectWithin is what a reconnection to another server may take on
// loopback: the link loss is seen at once (the server closes its peers),
// then one backoff step and one signaling round.
const reconnectWithin = 5 * time.Second

// states records a client's state events for a test to wait on, in order.
type states struct{ ch chan client.StateEvent }

func newStates() *states { return &states{ch: make(chan client.StateEvent, 1024)} }

// reconnecting turns reconnection on (test/cluster turns it off) with short
// delays, and records the states.
func (s *states) reconnecting(queueBytes int) func(*client.Config) {
	return func(c *client.Config) {
		c.Reconnect = client.Reconnect{MinDelay: 20 * time.Millisecond, MaxDelay: 200 * time.Millisecond, QueueBytes: queueBytes}
		c.OnState = func(ev client.StateEvent) { s.ch <- ev }
	}
}

// next returns the next event, failing after timeout.
func (s *states) next(t *testing.T, timeout time.Duration, what string) client.StateEvent {
	t.Helper()
	select {
	case ev := <-s.ch:
		t.Logf("state %s server %d attempt %d err %v", ev.State, ev.Server, ev.Attempt, ev.Err)
		return ev
	case <-time.After(timeout):
		t.Fatalf("no state event within %s: waiting for %s", timeout, what)
		panic("unreachable")
	}
}

// expect asserts that the next event is a change to want (not a failed
// attempt).
func (s *states) expect(t *testing.T, timeout time.Duration, want client.State) client.StateEvent {
	t.Helper()
	ev := s.next(t, timeout, want.String())
	if ev.State != want || ev.Attempt != 0 {
		t.Fatalf("state event %s (attempt %d, err %v), want the change to %s", ev.State, ev.Attempt, ev.Err, want)
	}
	return ev
}

// connectedAfterAttempts skips failed attempts, numbered on from the seen
// ones already taken, until the client is connected again, within timeout
// in all; it returns how many more failed.
func (s *states) connectedAfterAttempts(t *testing.T, timeout time.Duration, seen int) (client.StateEvent, int) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	failed := seen
	for {
		ev := s.next(t, time.Until(deadline), "connected")
		switch {
		case ev.State == client.StateConnected:
			return ev, failed - seen
		case ev.State == client.StateReconnecting && ev.Attempt == failed+1 && ev.Err != nil:
			failed++
		default:
			t.Fatalf("state event %s (attempt %d, err %v) while reconnecting, want failed attempts then connected", ev.State, ev.Attempt, ev.Err)
		}
	}
}

func subscribe(t *testing.T, c *client.Client, topics ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cluster.EventTimeout)
	defer cancel()
	if err := c.Subscribe(ctx, topics...); err != nil {
		t.Fatalf("client %d subscribe %v: %v", c.Alias(), topics, err)
	}
}

func publish(t *testing.T, c *client.Client, topic, body string) {
	t.Helper()
	if err := c.Publish(topic, []byte(body), client.Reliable); err != nil {
		t.Fatalf("client %d publish %q on %q: %v", c.Alias(), body, topic, err)
	}
}

func next(t *testing.T, c *client.Client, topic, body string) {
	t.Helper()
	if m := cluster.Next(t, c, cluster.EventTimeout); m.Topic != topic || string(m.Body) != body {
		t.Fatalf("client %d: next message %q on %q, want %q on %q", c.Alias(), m.Body, m.Topic, body, topic)
	}
}

// TestReconnectsToAnotherServerWhenItsServerStops: the server a client is
// on stops; the client says so, is connected to the other server within
// reconnectWithin, its subscription is back in force there, and it
// publishes again.
func TestReconnectsToAnotherServerWhenItsServerStops(t *testing.T) {
	cl := cluster.Start(t, cluster.Options{Servers: 2})
	s := newStates()
	a := cl.Client(t, cl.On(0), s.reconnecting(0))
	b := cl.Client(t, cl.On(1))
	s.expect(t, cluster.EventTimeout, client.StateConnecting)
	first := s.expect(t, cluster.EventTimeout, client.StateConnected)
	lost, other := cl.Server(0).Stats().Alias, cl.Server(1).Stats().Alias
	if first.Server != lost || a.State() != client.StateConnected {
		t.Fatalf("connected to %d in state %s, want server 0 (%d), connected", first.Server, a.State(), lost)
	}
	subscribe(t, a, "rc.down", "rc.marker")
	subscribe(t, b, "rc.up")

	stopped := time.Now()
	cl.StopServer(t, 0)
	down := s.expect(t, reconnectWithin, client.StateReconnecting)
	if down.Server != lost || !errors.Is(down.Err, client.ErrDisconnected) {
		t.Fatalf("reconnecting from server %d because %v, want server %d and ErrDisconnected", down.Server, down.Err, lost)
	}
	up, _ := s.connectedAfterAttempts(t, reconnectWithin, 0)
	t.Logf("connected to the other server %s after the stop began", time.Since(stopped))
	if up.Server != other || a.ServerAlias() != other || a.State() != client.StateConnected {
		t.Fatalf("reconnected to %d (ServerAlias %d, state %s), want the other server %d, connected", up.Server, a.ServerAlias(), a.State(), other)
	}
	if up.Alias != a.Alias() || up.Alias == first.Alias {
		t.Fatalf("alias %d after reconnection (Alias() %d), want a new one (was %d)", up.Alias, a.Alias(), first.Alias)
	}

	// a and b are on one server now: no announcement to wait for. a's set
	// was sent before it went live, so the first publish after is delivered.
	publish(t, b, "rc.down", "after the reconnection")
	next(t, a, "rc.down", "after the reconnection")
	publish(t, a, "rc.up", "a is back")
	next(t, b, "rc.up", "a is back")
	select {
	case ev := <-s.ch:
		t.Fatalf("unexpected state event %s (attempt %d, err %v)", ev.State, ev.Attempt, ev.Err)
	default:
	}

	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if ev := s.expect(t, cluster.EventTimeout, client.StateClosed); !errors.Is(ev.Err, client.ErrClosed) {
		t.Fatalf("closed because %v, want ErrClosed", ev.Err)
	}
}

// TestReconnectWaitsForTheCoordinatorAndSendsTheQueue: the coordinator is
// away when the client's server stops. The client keeps trying (every
// failure reported), queues reliable publishes up to its bound and refuses
// the next with ErrQueueFull, refuses unreliable ones with ErrNotConnected,
// and once the coordinator is back it reconnects and sends what it queued,
// in order, before anything published later.
func TestReconnectWaitsForTheCoordinatorAndSendsTheQueue(t *testing.T) {
	const queueBytes, bodyBytes = 4096, 1000
	cl := cluster.Start(t, cluster.Options{Servers: 2})
	s := newStates()
	a := cl.Client(t, cl.On(0), s.reconnecting(queueBytes))
	b := cl.Client(t, cl.On(1))
	s.expect(t, cluster.EventTimeout, client.StateConnecting)
	s.expect(t, cluster.EventTimeout, client.StateConnected)
	subscribe(t, b, "q")

	cl.StopCoordinator(t)
	cl.StopServer(t, 0)
	s.expect(t, reconnectWithin, client.StateReconnecting)
	// The coordinator is down, so attempts fail until it is back: the state
	// is reconnecting throughout what follows.
	if ev := s.next(t, cluster.EventTimeout, "a failed attempt"); ev.State != client.StateReconnecting || ev.Attempt != 1 || ev.Err == nil {
		t.Fatalf("state event %s (attempt %d, err %v), want failed attempt 1", ev.State, ev.Attempt, ev.Err)
	}

	if err := a.Publish("q", []byte("stale"), client.Unreliable); !errors.Is(err, client.ErrNotConnected) {
		t.Fatalf("unreliable publish while reconnecting: %v, want ErrNotConnected", err)
	}
	var queued []string
	for i := 0; ; i++ {
		body := fmt.Sprintf("queued-%d-", i)
		body += strings.Repeat("x", bodyBytes-len(body))
		err := a.Publish("q", []byte(body), client.Reliable)
		if errors.Is(err, client.ErrQueueFull) {
			break
		}
		if err != nil {
			t.Fatalf("reliable publish %d while reconnecting: %v, want it queued", i, err)
		}
		queued = append(queued, body)
		if i > queueBytes/bodyBytes {
			t.Fatalf("%d publishes of %d bytes queued, over the bound of %d bytes", len(queued), bodyBytes, queueBytes)
		}
	}
	if len(queued) < queueBytes/bodyBytes-1 {
		t.Fatalf("only %d publishes of %d bytes queued before ErrQueueFull, the bound is %d bytes", len(queued), bodyBytes, queueBytes)
	}

	cl.StartCoordinator(t)
	cl.WaitReady(t)
	up, failed := s.connectedAfterAttempts(t, cluster.EventTimeout, 1)
	if up.Server != cl.Server(1).Stats().Alias {
		t.Fatalf("reconnected to %d, want server 1 (%d)", up.Server, cl.Server(1).Stats().Alias)
	}
	t.Logf("connected again after %d more failed attempts; %d publishes queued", failed, len(queued))
	publish(t, a, "q", "after")
	for _, body := range queued {
		next(t, b, "q", body)
	}
	next(t, b, "q", "after")
}

// TestServerErrorsGoToOnErrorNotMessages: a subscription a Lua ACL denies
// reaches the application as a ServerError, through Config.OnError or
// Errors(), and never as a message.
func TestServerErrorsGoToOnErrorNotMessages(t *testing.T) {
	cl := startACLCluster(t, `
policy = { topics = { "secret.**" } }
function on_publish(topic, body, alias, identity, role) return "allow" end
function on_subscribe(topic, alias, identity, role) return "deny", "no secrets here" end
`)
	handled := make(chan *client.ServerError, 16)
	withHandler := cl.Client(t, func(c *client.Config) { c.OnError = func(e *client.ServerError) { handled <- e } })
	withChannel := cl.Client(t)
	pub := cl.Client(t)

	for _, c := range []*client.Client{withHandler, withChannel} {
		subscribe(t, c, "secret.plans", "open")
	}
	var got []*client.ServerError
	select {
	case e := <-handled:
		got = append(got, e)
	case <-time.After(cluster.EventTimeout):
		t.Fatal("OnError was not called for the denied subscription")
	}
	got = append(got, cluster.ReceiveError(t, withChannel, cluster.EventTimeout, func(*client.ServerError) bool { return true }))
	for _, e := range got {
		if e.Code != protocol.ErrorCode_ERROR_SUBSCRIPTION_DENIED || e.Topic != "secret.plans" || e.Reason != "no secrets here" || e.Channel != client.Reliable {
			t.Fatalf("server error %+v, want SUBSCRIPTION_DENIED on secret.plans, reliable", e)
		}
	}
	// Had the error gone to the messages, it would come before this.
	publish(t, pub, "open", "hello")
	next(t, withHandler, "open", "hello")
	next(t, withChannel, "open", "hello")
}

// startACLCluster is one server whose Lua host runs script.
func startACLCluster(t *testing.T, script string) *cluster.Cluster {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "acl.lua"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	return cluster.Start(t, cluster.Options{
		ServerOptions: func(_ int, o *commserver.Options) {
			h, err := luahost.New(context.Background(), luahost.Options{
				Dir:        dir,
				Logger:     cluster.Logger("luahost"),
				Registerer: o.Registry,
				// -race on a loaded machine is slow; the hook must not time out.
				DefaultTimeout: time.Second,
			})
			if err != nil {
				t.Fatalf("lua host: %v", err)
			}
			t.Cleanup(func() { h.Close() })
			o.Policy = h
		},
	})
}

// TestCloseWhileReconnecting: Close ends the attempts at once, says closed,
// and leaves none of the client's goroutines behind.
func TestCloseWhileReconnecting(t *testing.T) {
	cl := cluster.Start(t, cluster.Options{})
	s := newStates()
	a := cl.Client(t, s.reconnecting(0))
	s.expect(t, cluster.EventTimeout, client.StateConnecting)
	s.expect(t, cluster.EventTimeout, client.StateConnected)
	cl.StopCoordinator(t)
	cl.StopServer(t, 0)
	s.expect(t, reconnectWithin, client.StateReconnecting)
	if err := a.Publish("t", []byte("queued"), client.Reliable); err != nil {
		t.Fatalf("reliable publish while reconnecting: %v, want it queued", err)
	}

	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	for {
		ev := s.next(t, cluster.EventTimeout, "closed")
		if ev.State == client.StateClosed {
			break
		}
		if ev.State != client.StateReconnecting || ev.Attempt == 0 {
			t.Fatalf("state event %s (attempt %d) before closed", ev.State, ev.Attempt)
		}
	}
	if err := a.Publish("t", nil, client.Reliable); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("publish after Close: %v, want ErrClosed", err)
	}
	testwait.GoroutinesEnd(t, cluster.EventTimeout, "the client's goroutines to end after Close",
		"client.(*Client)", "client.(*link)", "client.(*signaling)", "client.(*dataChannel)")
}
