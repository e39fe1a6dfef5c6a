package commserver_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/commserver"
	"github.com/webrtc-broker/webrtc-broker/core/rtcconfig"
	"github.com/webrtc-broker/webrtc-broker/internal/testtls"
	"github.com/webrtc-broker/webrtc-broker/internal/testwait"
	"github.com/webrtc-broker/webrtc-broker/protocol"
	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

// TestE2ETLSCluster: the coordinator on wss://, both servers registered
// through coordinator_ca and the clients through Config.TLSConfig; topic
// messages go on one server and across the mesh, reliable, unreliable and
// with identity.
func TestE2ETLSCluster(t *testing.T) {
	cl := cluster.Start(t, cluster.Options{Servers: 2, TLS: true})
	if !strings.HasPrefix(cl.URL(), "wss://") {
		t.Fatalf("cluster URL %s, want wss://", cl.URL())
	}
	a := cl.Client(t, cl.On(0))
	same := cl.Client(t, cl.On(0))
	other := cl.Client(t, cl.On(1))
	for _, c := range []*client.Client{a, same, other} {
		subscribe(t, c, "tls")
	}
	reach(t, a, other, "tls", client.Reliable) // the subscription crossed the mesh
	publish(t, a, "tls", "reliable", client.Reliable)
	for _, c := range []*client.Client{same, other} {
		expectFrom(t, receive(t, c, "tls", "reliable"), a)
	}
	reach(t, a, same, "tls", client.Unreliable)
	reach(t, a, other, "tls", client.Unreliable)
	if err := a.PublishIdentity("tls", []byte("identity"), client.Reliable); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*client.Client{same, other} {
		if m := receive(t, c, "tls", "identity"); m.Role != protocol.Role_CLIENT {
			t.Fatalf("identity message with role %v, want CLIENT", m.Role)
		}
	}
}

// syncLog is a log the server writes and the test reads.
type syncLog struct {
	t  *testing.T
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSuffix(string(p), "\n"))
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestE2ETLSWrongCoordinatorCA: a server whose coordinator_ca is not the
// coordinator's CA does not register, and says why: the URL it dialed and
// the CA file it trusted.
func TestE2ETLSWrongCoordinatorCA(t *testing.T) {
	cl := cluster.Start(t, cluster.Options{TLS: true})
	wrong := testtls.NewCA(t, "wrong")
	cfg := commserver.Config{CoordinatorURL: cl.URL(), CoordinatorCA: wrong.File}
	cfg.WebRTC = rtcconfig.Config{LoopbackOnly: true}
	cfg.Cluster.Secret = cl.Secret()
	lg := &syncLog{t: t}
	s, err := commserver.New(cfg, commserver.Options{Logger: slog.New(slog.NewTextHandler(lg, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	want := []string{"dial " + cl.URL(), "not trusted by coordinator_ca " + wrong.File, "x509"}
	testwait.For(t, eventTimeout, "the dial failure in the log", func() bool {
		for _, w := range want {
			if !strings.Contains(lg.String(), w) {
				return false
			}
		}
		return true
	})
	if st := s.Stats(); st.CoordinatorConnected || st.Alias != 0 {
		t.Fatalf("registered although the coordinator is not trusted: %+v", st)
	}
}

// TestE2ETLSClientWithWrongCA: the Go SDK refuses an untrusted coordinator
// with an error naming it, and never shows the token in the URL.
func TestE2ETLSClientWithWrongCA(t *testing.T) {
	cl := cluster.Start(t, cluster.Options{TLS: true})
	wrong := testtls.NewCA(t, "wrong")
	_, err := cl.Dial(t, func(c *client.Config) {
		c.TLSConfig = wrong.ClientConfig()
		c.Token = "do-not-show-this-token"
	})
	if err == nil {
		t.Fatal("dial with the wrong CA succeeded")
	}
	msg := err.Error()
	if !strings.Contains(msg, cl.URL()+"/connect") || !strings.Contains(msg, "not trusted") || strings.Contains(msg, "do-not-show") {
		t.Fatalf("dial error %q: want the URL without its token, and that the certificate is not trusted", msg)
	}
	// Without TLSConfig the system roots do not know the test CA either.
	if _, err := cl.Dial(t, func(c *client.Config) { c.TLSConfig = nil }); err == nil || !strings.Contains(err.Error(), "not trusted") {
		t.Fatalf("dial with the system roots: %v, want not trusted", err)
	}
}
