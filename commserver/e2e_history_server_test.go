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

// TestHistoryRecoveryOnSameServer: on a 2-server cluster, a client whose
// link to server 0 is cut stays away for 2 s (its reconnection backoff)
// while a client of server 1 keeps publishing on a history topic; it
// reconnects to server 0 again, although the coordinator offers both (its
// positions are of server 0's stream), and recovers every message, in
// order, none twice.
func TestHistoryRecoveryOnSameServer(t *testing.T) {
	cl := cluster.Start(t, cluster.Options{Servers: 2, Server: func(_ int, cfg *commserver.Config) {
		cfg.History = []history.Rule{{Pattern: "chat.*"}}
	}})
	r := newRecovering()
	a := cl.Client(t, cl.On(0), r.config, func(c *client.Config) {
		c.Reconnect = client.Reconnect{MinDelay: 2 * time.Second, MaxDelay: 2 * time.Second}
	})
	b := cl.Client(t, cl.On(1))
	r.waitState(t, client.StateConnected)
	home := cl.Server(0).Stats().Alias
	subscribe(t, a, "chat.same")
	reach(t, b, a, "chat.same", client.Reliable)
	got := drain(a)

	published, halt := publishSteadily(t, b, "chat.same", 0)
	// Some messages live, then the cut.
	expect := expecter(t, got, "chat.same")
	want := int64(0)
	for ; want < 5; want++ {
		expect(fmt.Sprintf("m-%d", want))
	}
	if !commserver.ClosePeerForTest(cl.Server(0), a.Alias()) {
		t.Fatalf("server 0 has no peer %d", a.Alias())
	}
	r.waitState(t, client.StateReconnecting)
	up := r.waitState(t, client.StateConnected)
	if up.Server != home {
		t.Fatalf("reconnected to server %d, want server 0 (%d), which its positions are of", up.Server, home)
	}
	rc := r.recovery(t)
	if rc.Topic != "chat.same" || !rc.Recovered || rc.Replayed == 0 {
		t.Fatalf("recovery %+v, want chat.same recovered with messages replayed", rc)
	}
	want = readToTheEnd(t, expect, b, "chat.same", want, published, halt)
	t.Logf("%d messages received in order, %d of them replayed after the cut", want, rc.Replayed)
}
