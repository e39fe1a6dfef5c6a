package commserver_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/webrtc-broker/webrtc-broker/commserver"
	"github.com/webrtc-broker/webrtc-broker/coordinator"
	"github.com/webrtc-broker/webrtc-broker/internal/testwait"
	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

// Issue 12, defect 6: with the default allow-all, any process could
// register at /discover as a server, be offered to clients, receive the
// cluster's traffic and inject TOPIC_IDENTITY with a forged identity. Server
// registration and server links now prove cluster.secret.

const authFailures = "commserver_auth_failures_total"

// TestE2ERogueServerIsNeverLinked: a server without the cluster's secret
// (none, or another) is refused at /discover: it never gets an alias, is
// never in the coordinator's directory (so never offered to a client) and
// never linked with the cluster's servers.
func TestE2ERogueServerIsNeverLinked(t *testing.T) {
	coordReg := prometheus.NewRegistry()
	cl := cluster.Start(t, cluster.Options{Servers: 2,
		CoordinatorOptions: func(o *coordinator.Options) { o.Registry = coordReg }})
	for _, c := range []struct{ name, secret string }{
		{"no secret", ""},
		{"another secret", "not-the-cluster-secret-0123"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rogue, reg, stop := startServer(t, cl, "rogue", serverSpec{
				config:     func(cfg *commserver.Config) { cfg.Cluster.Secret = c.secret },
				unwelcomed: true,
			})
			defer stop()
			testwait.For(t, cluster.EventTimeout, "the rogue's registration to be refused twice", func() bool {
				return gather(t, reg, "commserver_coordinator_reconnects_total") >= 2
			})
			if st := rogue.Stats(); st.Alias != 0 || st.Servers != 0 {
				t.Fatalf("rogue got alias %d and %d server links, want none", st.Alias, st.Servers)
			}
			if got := gather(t, coordReg, "coordinator_connected_servers"); got != 2 {
				t.Fatalf("the coordinator has %v servers, want the cluster's 2", got)
			}
			for i := range 2 {
				if got := cl.Server(i).Stats().Servers; got != 1 {
					t.Fatalf("server %d has %d server links, want 1", i, got)
				}
			}
		})
	}
}

// TestE2EServerLinkProofCheckedByTheReceivingSide: a registered server
// whose link AUTH does not prove the secret is refused by the server it
// sends CONNECT to.
func TestE2EServerLinkProofCheckedByTheReceivingSide(t *testing.T) {
	cl := cluster.Start(t, cluster.Options{Servers: 1})
	m1, _, _ := startServer(t, cl, "m1", serverSpec{setup: func(s *commserver.Server) {
		commserver.SetLinkSecretForTest(s, "not-the-cluster-secret-0123")
	}})
	testwait.For(t, cluster.EventTimeout, "server 0 to refuse m1's AUTH twice", func() bool {
		return cl.Counter(t, 0, authFailures, nil) >= 2
	})
	if got := cl.Server(0).Stats().Servers; got != 0 {
		t.Fatalf("server 0 has %d server links, want 0", got)
	}
	if got := m1.Stats().Servers; got != 0 {
		t.Fatalf("m1 has %d server links, want 0", got)
	}
}

// TestE2EServerLinkProofCheckedByTheConnectingSide: the side that sends
// CONNECT checks the other end's AUTH too (it used to trust whoever
// answered its CONNECT): a server that cannot prove the secret is refused by
// the servers that dial it.
func TestE2EServerLinkProofCheckedByTheConnectingSide(t *testing.T) {
	cl := cluster.Start(t, cluster.Options{Servers: 1})
	commserver.SetLinkSecretForTest(cl.Server(0), "not-the-cluster-secret-0123")
	m1, reg1, _ := startServer(t, cl, "m1") // dials server 0
	testwait.For(t, cluster.EventTimeout, "m1 to refuse server 0's AUTH twice", func() bool {
		return gather(t, reg1, authFailures) >= 2
	})
	if got := m1.Stats().Servers; got != 0 {
		t.Fatalf("m1 has %d server links, want 0", got)
	}
	if got := cl.Counter(t, 0, authFailures, nil); got != 0 {
		t.Fatalf("server 0 refused %v AUTHs, want 0: m1's proves the secret", got)
	}
}
