package commserver_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/commserver"
	"github.com/webrtc-broker/webrtc-broker/core/history"
	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

// TestHistoryReplayOverReliableBudget: a replay many times larger than
// outbound.reliable_bytes (and than what pion buffers) is paced through the
// client's reliable queue as it drains, not pushed at once: the recovering
// client gets every missed message and the live ones published during the
// replay, in order, none twice, and is not closed as a slow consumer.
func TestHistoryReplayOverReliableBudget(t *testing.T) {
	const (
		budget = 64 << 10
		body   = 4 << 10
		missed = 600 // 2.4 MiB: over the budget plus pion's 1 MiB high water
		live   = 50
	)
	cl := cluster.Start(t, cluster.Options{Server: func(_ int, cfg *commserver.Config) {
		cfg.Outbound.ReliableBytes = budget
		cfg.History = []history.Rule{{Pattern: "big.*", Messages: 1000, MaxBytes: 8 << 20}}
	}})
	r := newRecovering()
	a := cl.Client(t, r.config)
	b := cl.Client(t)
	r.waitState(t, client.StateConnected)
	subscribe(t, a, "big.room")
	publish(t, b, "big.room", "m-0", client.Reliable)
	next(t, a, "big.room", "m-0")
	got := drain(a)

	cut(t, cl, r, a)
	pad := make([]byte, body)
	for i := 1; i <= missed; i++ {
		msg := append(fmt.Appendf(nil, "m-%d:", i), pad...)
		if err := b.Publish("big.room", msg, client.Reliable); err != nil {
			t.Fatalf("publish m-%d: %v", i, err)
		}
	}
	ping(t, b, client.Reliable) // the server holds them all
	if held := cl.Counter(t, 0, "commserver_history_bytes", nil); held < missed*body {
		t.Fatalf("commserver_history_bytes = %v, want at least the %d bytes missed", held, missed*body)
	}
	cl.StartCoordinator(t)
	up := r.waitState(t, client.StateConnected)
	upAt := time.Now()
	// Live messages while the replay is under way: they must come after it.
	for i := missed + 1; i <= missed+live; i++ {
		publish(t, b, "big.room", fmt.Sprintf("m-%d:", i), client.Reliable)
	}
	rc := r.recovery(t)
	if !rc.Recovered || rc.Replayed != missed {
		t.Fatalf("recovery %+v, want recovered with %d replayed", rc, missed)
	}
	for want := 1; want <= missed+live; want++ {
		select {
		case m := <-got:
			prefix := fmt.Sprintf("m-%d:", want)
			if m.Topic != "big.room" || len(m.Body) < len(prefix) || string(m.Body[:len(prefix)]) != prefix {
				t.Fatalf("message %d: received %.12q on %q, want %q...", want, m.Body, m.Topic, prefix)
			}
		case <-time.After(2 * eventTimeout):
			t.Fatalf("no m-%d", want)
		}
	}
	t.Logf("%d messages (%d KiB) replayed and %d live received %s after the reconnection", missed, missed*body>>10, live, time.Since(upAt).Round(time.Millisecond))
	publish(t, b, "big.room", "end", client.Reliable)
	if m := <-got; string(m.Body) != "end" {
		t.Fatalf("after the last message: %.12q, want end", m.Body)
	}
	select {
	case ev := <-r.states:
		t.Fatalf("state %s after the recovery (err %v): the client was cut", ev.State, ev.Err)
	default:
	}
	if a.ServerAlias() != up.Server {
		t.Fatalf("client moved from server %d to %d", up.Server, a.ServerAlias())
	}
	if n := cl.Counter(t, 0, "commserver_dropped_messages_total", map[string]string{"reason": "slow_consumer"}); n != 0 {
		t.Fatalf("%v slow consumers closed", n)
	}
}
