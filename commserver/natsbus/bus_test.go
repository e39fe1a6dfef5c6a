package natsbus

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/webrtc-broker/webrtc-broker/internal/natsembed"
	"github.com/webrtc-broker/webrtc-broker/internal/testtls"
	"github.com/webrtc-broker/webrtc-broker/internal/testwait"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

const eventTimeout = 10 * time.Second

func startNATS(t testing.TB) *natsembed.Server {
	t.Helper()
	ns, err := natsembed.Start(natsembed.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	return ns
}

// syncLog is a slog handler's writer that tests read from another
// goroutine.
type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type testBus struct {
	*Bus
	got chan Envelope
	reg *prometheus.Registry
	log *syncLog
}

// startBus connects a bus to ns; its deliveries (copied) arrive on got.
func startBus(t testing.TB, ns *natsembed.Server, mod func(*Config, *Options)) *testBus {
	t.Helper()
	tb := &testBus{got: make(chan Envelope, 1024), reg: prometheus.NewRegistry(), log: &syncLog{}}
	cfg := Config{URL: []string{ns.ClientURL()}, PendingLimit: 1024, SubjectPrefix: "wrb"}
	o := Options{
		Logger:   slog.New(slog.NewTextHandler(tb.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Registry: tb.reg,
		Deliver: func(e Envelope) {
			m := e.Msg
			m.Topic, m.Body, m.Identity = bytes.Clone(m.Topic), bytes.Clone(m.Body), bytes.Clone(m.Identity)
			e.Msg = m
			tb.got <- e
		},
	}
	if mod != nil {
		mod(&cfg, &o)
	}
	b, err := New(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Connect(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close(context.Background()) })
	testwait.For(t, eventTimeout, "the bus to connect", b.Connected)
	tb.Bus = b
	return tb
}

func waitInterest(t *testing.T, ns *natsembed.Server, topic string, want int) {
	t.Helper()
	subj, _ := SubjectFor("wrb", topic)
	testwait.For(t, eventTimeout, "NATS interest in "+topic, func() bool { return ns.Interest(subj) == want })
}

func expectEnvelope(t *testing.T, tb *testBus, body string) Envelope {
	t.Helper()
	select {
	case e := <-tb.got:
		if string(e.Msg.Body) != body {
			t.Fatalf("delivered %q, want %q", e.Msg.Body, body)
		}
		return e
	case <-time.After(eventTimeout):
		t.Fatalf("%q not delivered", body)
	}
	panic("unreachable")
}

// TestBusDeliversToOthersNotItself: a publish reaches the other bus
// subscribed to the topic, with every field, and never its own.
func TestBusDeliversToOthersNotItself(t *testing.T) {
	ns := startNATS(t)
	a, b := startBus(t, ns, nil), startBus(t, ns, nil)
	a.SetTopics([]string{"room.1"})
	b.SetTopics([]string{"room.1"})
	waitInterest(t, ns, "room.1", 2)

	if err := a.Publish(false, true, 42, "room.1", []byte("alice"), protocol.Role_CLIENT, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	e := expectEnvelope(t, b, "hi")
	if e.Reliable || e.Origin != a.Origin() || e.Msg.From != 42 || string(e.Msg.Identity) != "alice" ||
		e.Msg.Role != protocol.Role_CLIENT || e.Msg.Type != protocol.MessageType_TOPIC_IDENTITY {
		t.Fatalf("delivered %+v", e)
	}
	// a's own publish never came back to a: b's fence is the first thing a gets.
	if err := b.Publish(true, false, 7, "room.1", nil, 0, []byte("fence")); err != nil {
		t.Fatal(err)
	}
	expectEnvelope(t, a, "fence")

	// Unsubscribing: b's interest goes, a's stays.
	b.SetTopics(nil)
	waitInterest(t, ns, "room.1", 1)
	if got := testutil.ToFloat64(b.m.subscriptions); got != 0 {
		t.Fatalf("subscriptions gauge %v after SetTopics(nil)", got)
	}
}

// TestBusSlowConsumerIsLoggedAndCounted: a topic whose deliveries stall
// goes over nats.pending_limit; NATS drops, and the bus logs it once and
// counts it.
func TestBusSlowConsumerIsLoggedAndCounted(t *testing.T) {
	ns := startNATS(t)
	release := make(chan struct{})
	a := startBus(t, ns, nil)
	b := startBus(t, ns, func(c *Config, o *Options) {
		c.PendingLimit = 4
		o.Deliver = func(Envelope) { <-release }
	})
	defer close(release)
	b.SetTopics([]string{"hot"})
	waitInterest(t, ns, "hot", 1)
	testwait.For(t, eventTimeout, "a slow consumer reported", func() bool {
		_ = a.Publish(true, false, 1, "hot", nil, 0, []byte("x"))
		return testutil.ToFloat64(b.m.slowConsumers) >= 1
	})
	if !strings.Contains(b.log.String(), "NATS slow consumer") || !strings.Contains(b.log.String(), "topic=hot") {
		t.Fatalf("no slow-consumer log line naming the topic:\n%s", b.log.String())
	}
}

// TestBusDropsBadEnvelopes: a message on a topic's subject that is not an
// envelope for that topic is counted and never delivered.
func TestBusDropsBadEnvelopes(t *testing.T) {
	ns := startNATS(t)
	b := startBus(t, ns, nil)
	b.SetTopics([]string{"t", "fence"})
	waitInterest(t, ns, "t", 1)
	waitInterest(t, ns, "fence", 1)
	raw, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	subjT, _ := SubjectFor("wrb", "t")
	subjFence, _ := SubjectFor("wrb", "fence")
	_ = raw.Publish(subjT, []byte("garbage"))
	// A valid envelope for another topic, on t's subject.
	_ = raw.Publish(subjT, AppendEnvelope(nil, true, 99, false, 1, "other", nil, 0, []byte("wrong topic")))
	_ = raw.Publish(subjFence, AppendEnvelope(nil, true, 99, false, 1, "fence", nil, 0, []byte("fence")))
	expectEnvelope(t, b, "fence")
	testwait.For(t, eventTimeout, "both bad envelopes counted", func() bool { return b.m.badEnvelopes.Load() == 2 })
}

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	creds := filepath.Join(dir, "user.creds")
	if err := os.WriteFile(creds, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	ok := Config{PendingLimit: 1, SubjectPrefix: "wrb"}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		bad  bool
	}{
		{"defaults", func(*Config) {}, false},
		{"urls", func(c *Config) { c.URL = []string{"nats://127.0.0.1:4222", "tls://nats.internal:4443"} }, false},
		{"creds file", func(c *Config) { c.Creds = creds }, false},
		{"token and creds", func(c *Config) { c.Token, c.Creds = "t", creds }, true},
		{"http url", func(c *Config) { c.URL = []string{"http://127.0.0.1:4222"} }, true},
		{"no host", func(c *Config) { c.URL = []string{"nats://"} }, true},
		{"pending 0", func(c *Config) { c.PendingLimit = 0 }, true},
		{"wildcard prefix", func(c *Config) { c.SubjectPrefix = "a.*" }, true},
		{"missing creds", func(c *Config) { c.Creds = filepath.Join(dir, "none") }, true},
		{"missing ca", func(c *Config) { c.TLS.CA = filepath.Join(dir, "none.pem") }, true},
	} {
		c := ok
		tc.mod(&c)
		if err := c.Check(); (err != nil) != tc.bad {
			t.Errorf("%s: Check() = %v, want error %v", tc.name, err, tc.bad)
		}
	}
}

// TestBusWaitsForNATSForever: a bus whose NATS server is not up yet starts
// anyway, keeps trying, and connects (with the subscriptions it was given
// meanwhile) once the server is there.
func TestBusWaitsForNATSForever(t *testing.T) {
	probe, err := natsembed.Start(natsembed.Config{})
	if err != nil {
		t.Fatal(err)
	}
	port := probe.Port()
	probe.Shutdown() // a port that was free a moment ago, now with no server
	tb := &testBus{got: make(chan Envelope, 16), reg: prometheus.NewRegistry(), log: &syncLog{}}
	b, err := New(Config{URL: []string{fmt.Sprintf("nats://127.0.0.1:%d", port)}, PendingLimit: 16, SubjectPrefix: "wrb"},
		Options{Registry: tb.reg, Deliver: func(e Envelope) { tb.got <- e }, ReconnectMin: 10 * time.Millisecond, ReconnectMax: 50 * time.Millisecond,
			Logger: slog.New(slog.NewTextHandler(tb.log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Connect(); err != nil {
		t.Fatalf("Connect with no NATS server up: %v, want a bus that keeps trying", err)
	}
	t.Cleanup(func() { b.Close(context.Background()) })
	if b.Connected() {
		t.Fatal("connected to a server that is not there")
	}
	b.SetTopics([]string{"later"})
	ns, err := natsembed.Start(natsembed.Config{Port: port})
	if err != nil {
		t.Fatalf("restart NATS on port %d, free a moment ago: %v", port, err)
	}
	t.Cleanup(ns.Shutdown)
	testwait.For(t, eventTimeout, "the bus to connect once NATS is up", b.Connected)
	waitInterest(t, ns, "later", 1)
}

// TestBusTokenAndTLS: nats.token and nats.tls.ca against a NATS server that
// requires the token over TLS with a private CA; a wrong token is refused
// and reported.
func TestBusTokenAndTLS(t *testing.T) {
	ca := testtls.NewCA(t, "nats")
	leaf := ca.Leaf(t, "nats", "127.0.0.1")
	pair, err := tls.X509KeyPair(leaf.CertPEM, leaf.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := natsembed.Start(natsembed.Config{Token: "s3cret",
		TLS: &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	if !strings.HasPrefix(ns.ClientURL(), "tls://127.0.0.1:") {
		t.Fatalf("client URL %q, want tls://", ns.ClientURL())
	}
	secure := func(token string) func(*Config, *Options) {
		return func(c *Config, o *Options) { c.Token, c.TLS.CA = token, ca.File }
	}
	a, b := startBus(t, ns, secure("s3cret")), startBus(t, ns, secure("s3cret"))
	b.SetTopics([]string{"secure"})
	waitInterest(t, ns, "secure", 1)
	if err := a.Publish(true, false, 1, "secure", nil, 0, []byte("over tls")); err != nil {
		t.Fatal(err)
	}
	expectEnvelope(t, b, "over tls")

	wrong := &syncLog{}
	bad, err := New(Config{URL: []string{ns.ClientURL()}, Token: "guess", PendingLimit: 1, SubjectPrefix: "wrb", TLS: struct {
		CA string `koanf:"ca"`
	}{CA: ca.File}}, Options{Deliver: func(Envelope) {}, Logger: slog.New(slog.NewTextHandler(wrong, nil)),
		ReconnectMin: 10 * time.Millisecond, ReconnectMax: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := bad.Connect(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bad.Close(context.Background()) })
	testwait.For(t, eventTimeout, "the wrong token's refusal to be logged", func() bool {
		return strings.Contains(strings.ToLower(wrong.String()), "authorization violation")
	})
	if bad.Connected() {
		t.Fatal("connected with a wrong token")
	}
}
