package commserver_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/protocol"
	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

// Helpers shared by the end-to-end tests (e2e_*_test.go): real pion clients
// from client/ against real servers started by test/cluster.

const (
	eventTimeout = cluster.EventTimeout
	// probeEvery paces publishes that wait for something asynchronous (a
	// subscription announced to another server) to take effect.
	probeEvery = 20 * time.Millisecond
)

func eventCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	t.Cleanup(cancel)
	return ctx
}

func subscribe(t *testing.T, cl *client.Client, topics ...string) {
	t.Helper()
	if err := cl.Subscribe(eventCtx(t), topics...); err != nil {
		t.Fatalf("client %d subscribe %v: %v", cl.Alias(), topics, err)
	}
}

func publish(t *testing.T, cl *client.Client, topic, body string, ch client.Channel) {
	t.Helper()
	if err := cl.Publish(topic, []byte(body), ch); err != nil {
		t.Fatalf("client %d publish %q on %q: %v", cl.Alias(), body, topic, err)
	}
}

// receive waits for body on topic at cl, skipping anything else.
func receive(t *testing.T, cl *client.Client, topic, body string) client.Message {
	t.Helper()
	return cluster.Receive(t, cl, eventTimeout, cluster.Body(topic, body))
}

// next asserts that the next message cl receives is body on topic: the
// barrier of a negative check (whatever must not arrive would come first).
func next(t *testing.T, cl *client.Client, topic, body string) client.Message {
	t.Helper()
	m := cluster.Next(t, cl, eventTimeout)
	if !cluster.Body(topic, body)(m) {
		t.Fatalf("client %d: next message is %s on %q from %d: %q, want %q on %q",
			cl.Alias(), "message", m.Topic, m.FromAlias, m.Body, body, topic)
	}
	return m
}

// expectFrom checks the sender of a forwarded message.
func expectFrom(t *testing.T, m client.Message, from *client.Client) {
	t.Helper()
	if m.FromAlias != from.Alias() {
		t.Fatalf("message %q from alias %d, want %d", m.Body, m.FromAlias, from.Alias())
	}
}

// reach publishes probes on topic from one client until another receives
// one: it waits out whatever asynchronous step delivery depends on (a
// subscription announced across servers, a lossy unreliable channel), and
// returns the first probe received. Reliable probes are then flushed by a
// reliable sync message on the same ordered channel, so that the next
// message either client sees is a fresh one. Unreliable probes are unordered
// and may be lost, so nothing can fence them: a probe may still trail in
// after an unreliable reach, and what follows one must skip them (receive,
// not next) or use another topic.
func reach(t *testing.T, from, to *client.Client, topic string, ch client.Channel) client.Message {
	t.Helper()
	deadline := time.NewTimer(eventTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(probeEvery)
	defer tick.Stop()
	var got client.Message
	for n := 0; ; n++ {
		publish(t, from, topic, fmt.Sprintf("probe-%d", n), ch)
		select {
		case m, ok := <-to.Messages():
			if !ok {
				t.Fatalf("client %d went down while probing %q: %v", to.Alias(), topic, to.Err())
			}
			if m.Topic == topic && len(m.Body) > 6 && string(m.Body[:6]) == "probe-" {
				got = m
			} else {
				t.Logf("client %d: skipping %q while probing", to.Alias(), m.Topic)
			}
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("client %d never received a probe on %q from client %d", to.Alias(), topic, from.Alias())
		}
		if got.Topic != "" {
			break
		}
	}
	if ch == client.Reliable {
		sync := fmt.Sprintf("sync-%d", time.Now().UnixNano())
		publish(t, from, topic, sync, client.Reliable)
		receive(t, to, topic, sync)
	}
	return got
}

// ping measures a round trip on a channel; an unreliable PING may be lost,
// so it is retried with short attempts.
func ping(t *testing.T, cl *client.Client, ch client.Channel) time.Duration {
	t.Helper()
	deadline := time.Now().Add(eventTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		rtt, err := cl.Ping(ctx, ch)
		cancel()
		if err == nil {
			return rtt
		}
		if !errors.Is(err, context.DeadlineExceeded) || time.Now().After(deadline) {
			t.Fatalf("client %d ping on %s: %v", cl.Alias(), ch, err)
		}
	}
}

// waitDown waits until cl's link is gone and returns why.
func waitDown(t *testing.T, cl *client.Client, why string) error {
	t.Helper()
	select {
	case <-cl.Done():
		return cl.Err()
	case <-time.After(eventTimeout):
		t.Fatalf("client %d still connected after %s", cl.Alias(), why)
		return nil
	}
}

// isIdentityMessage tells a message sent with PublishIdentity: the server
// stamps a role on those only.
func isIdentityMessage(m client.Message) bool {
	return m.Role != protocol.Role_UNKNOWN_ROLE
}
