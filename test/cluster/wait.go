package cluster

import (
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/internal/testwait"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// pollInterval is how often WaitFor re-checks its condition: short enough
// WaitFor polls cond until it is true, and fails the test with what if it is
// still false after timeout.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	testwait.For(t, timeout, what, cond)
}

// Next returns the next message cl receives, whatever it is, and fails the
// test if none arrives within timeout or the client goes down.
func Next(t testing.TB, cl *client.Client, timeout time.Duration) client.Message {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case m, ok := <-cl.Messages():
		if !ok {
			t.Fatalf("client %d went down while a message was awaited: %v", cl.Alias(), cl.Err())
		}
		return m
	case <-timer.C:
		t.Fatalf("client %d received nothing within %s", cl.Alias(), timeout)
	}
	panic("unreachable")
}

// Receive returns the first message cl receives that match accepts,
// skipping (and logging) the others; it fails the test if none arrives
// within timeout or the client goes down.
func Receive(t testing.TB, cl *client.Client, timeout time.Duration, match func(client.Message) bool) client.Message {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case m, ok := <-cl.Messages():
			if !ok {
				t.Fatalf("client %d went down while a message was awaited: %v", cl.Alias(), cl.Err())
			}
			if match(m) {
				return m
			}
			t.Logf("client %d: skipping %s on %q from %d: %q", cl.Alias(), m.Type, m.Topic, m.FromAlias, truncate(m.Body))
		case <-timer.C:
			t.Fatalf("client %d received no matching message within %s", cl.Alias(), timeout)
		}
	}
}

// NoReceive fails the test if cl receives a message that match accepts
// within wait. It is a deliberate bounded wait, for the rare negative check
// that no barrier can prove; prefer publishing a marker after the message
// that must not arrive, and asserting with Next that the marker comes first.
func NoReceive(t testing.TB, cl *client.Client, wait time.Duration, match func(client.Message) bool) {
	t.Helper()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case m, ok := <-cl.Messages():
			if !ok {
				return
			}
			if match(m) {
				t.Fatalf("client %d received %s on %q from %d: %q, want nothing", cl.Alias(), m.Type, m.Topic, m.FromAlias, truncate(m.Body))
			}
		case <-timer.C:
			return
		}
	}
}

// Body matches a topic message (TOPIC_FW or TOPIC_IDENTITY_FW) on topic with
// that body.
func Body(topic, body string) func(client.Message) bool {
	return func(m client.Message) bool {
		return (m.Type == protocol.MessageType_TOPIC_FW || m.Type == protocol.MessageType_TOPIC_IDENTITY_FW) &&
			m.Topic == topic && string(m.Body) == body
	}
}

func truncate(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}
