package cluster

import (
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

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
			t.Logf("client %d: skipping %q from %d: %q", cl.Alias(), m.Topic, m.FromAlias, truncate(m.Body))
		case <-timer.C:
			t.Fatalf("client %d received no matching message within %s", cl.Alias(), timeout)
		}
	}
}

// Body matches a message on topic with that body.
func Body(topic, body string) func(client.Message) bool {
	return func(m client.Message) bool {
		return m.Topic == topic && string(m.Body) == body
	}
}

// ReceiveError returns the first ERROR the server sends cl (through
// cl.Errors()) that match accepts, skipping (and logging) the others; it
// fails the test if none arrives within timeout or the client closes.
func ReceiveError(t testing.TB, cl *client.Client, timeout time.Duration, match func(*client.ServerError) bool) *client.ServerError {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case e, ok := <-cl.Errors():
			if !ok {
				t.Fatalf("client %d closed while an error was awaited: %v", cl.Alias(), cl.Err())
			}
			if match(e) {
				return e
			}
			t.Logf("client %d: skipping error %v", cl.Alias(), e)
		case <-timer.C:
			t.Fatalf("client %d received no matching error within %s", cl.Alias(), timeout)
		}
	}
}

// ErrorCode matches a server error by code and topic.
func ErrorCode(code protocol.ErrorCode, topic string) func(*client.ServerError) bool {
	return func(e *client.ServerError) bool { return e.Code == code && e.Topic == topic }
}

func truncate(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}
