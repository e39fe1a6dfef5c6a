package commserver

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/core/auth"
	"github.com/webrtc-broker/webrtc-broker/core/relay"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// dataChannelSeeds are one message of every type a peer may send on a data
// channel, and some that it may not.
func dataChannelSeeds(f *testing.F) [][]byte {
	enc := func(m proto.Message) []byte {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	return [][]byte{
		enc(&protocol.AuthMessage{Type: protocol.MessageType_AUTH, Role: protocol.Role_CLIENT, Body: []byte("token")}),
		enc(&protocol.AuthMessage{Type: protocol.MessageType_AUTH, Role: protocol.Role_COMMUNICATION_SERVER,
			ClusterProof: []byte("not a proof")}),
		enc(&protocol.AuthMessage{Type: protocol.MessageType_AUTH, Role: protocol.Role(42)}),
		enc(&protocol.SubscriptionMessage{Type: protocol.MessageType_SUBSCRIPTION, Format: protocol.Format_PLAIN, Topics: []byte("t u")}),
		enc(&protocol.SubscriptionMessage{Type: protocol.MessageType_SUBSCRIPTION, Format: protocol.Format_GZIP,
			Topics: gzipSeed(f, "t u")}),
		enc(&protocol.SubscriptionMessage{Type: protocol.MessageType_SUBSCRIPTION, Format: protocol.Format_GZIP, Topics: []byte("x")}),
		enc(&protocol.PingMessage{Type: protocol.MessageType_PING, Time: 1.5}),
		enc(&protocol.PresenceRequestMessage{Type: protocol.MessageType_PRESENCE_REQUEST, Topics: []string{"t", "$x", "u"}}),
		enc(&protocol.SubscriptionMessage{Type: protocol.MessageType_SUBSCRIPTION, Format: protocol.Format_PLAIN, Topics: []byte("t"),
			Recover: []*protocol.TopicPosition{{Topic: "t", Epoch: 1, Offset: 2}, {Topic: "u"}}}),
		relay.AppendTopic(nil, 9, "$presence.t", []byte{0x08, 0x13, 0x12, 0x01, 't', 0x18, 0x01}),
		relay.AppendTopic(nil, 9, "t", []byte("body")),
		relay.AppendTopicIdentity(nil, 9, "t", []byte("id"), protocol.Role_CLIENT, []byte("body")),
		relay.AppendTopicFW(nil, 9, "t", []byte("body")),
		relay.AppendTopic(nil, 0, "\xff", nil),
		enc(&protocol.ErrorMessage{Type: protocol.MessageType_ERROR, Code: protocol.ErrorCode_ERROR_AUTH_FAILED, Reason: "no"}),
		enc(&protocol.WelcomeMessage{Type: protocol.MessageType_WELCOME, Alias: 3}),
		enc(&protocol.AuthMessage{Type: protocol.MessageType_AUTH, Role: protocol.Role_CLIENT, Body: []byte("token"),
			Features: []protocol.Feature{protocol.Feature_FEATURE_BATCH, 7}}),
		relay.AppendBatch(nil, relay.AppendTopic(nil, 9, "t", []byte("a")), relay.AppendTopic(nil, 9, "t", []byte("b"))),
		relay.AppendBatch(nil, enc(&protocol.PingMessage{Type: protocol.MessageType_PING, Time: 2.5}), relay.AppendTopic(nil, 9, "t", nil)),
		relay.AppendBatch(nil, relay.AppendBatch(nil, relay.AppendTopic(nil, 9, "t", []byte("nested")))),
		relay.AppendBatch(nil, []byte{0x08}, relay.AppendTopic(nil, 9, "t", []byte("after a bad one"))),
		relay.AppendBatchHeader(nil), // no message
		{0x08, 0x4d},                 // type 77
		{0x08},                       // truncated type
		{},
	}
}

// handleFixture is a server with, besides newRelayFixture's subscribers of
// "t", one client and one server link that send what the fuzzer makes.
type handleFixture struct {
	*relayFixture
	client, server *peer
}

func newHandleFixture(f *testing.F) *handleFixture {
	rf := newRelayFixture(f, RoleServer, 2, 2)
	// The first of each is the sender, the rest only subscribe.
	return &handleFixture{relayFixture: rf, client: rf.clients[0], server: rf.servers[0]}
}

// FuzzHandle feeds handle, the dispatch of every data-channel message an
// authenticated peer sends, arbitrary bytes from a client and from a server
// link on either channel. It must never panic; one message closes nobody;
// the sender gets nothing back but ERRORs and its own PING; and whatever
// reaches the other peers is a well-formed forward on topic "t" of the kind
// the channel is, stamped with the sender's alias and identity when the
// sender is a client.
func FuzzHandle(f *testing.F) {
	for _, b := range dataChannelSeeds(f) {
		f.Add(false, true, b)
		f.Add(true, false, b)
	}
	fx := newHandleFixture(f)
	s := fx.s
	f.Fuzz(func(t *testing.T, fromServer, onReliable bool, msg []byte) {
		sender := fx.client
		if fromServer {
			sender = fx.server
		}
		kind := unreliable
		if onReliable {
			kind = reliable
		}
		// Undo what earlier inputs did: subscriptions and violations.
		s.subs.SetClient(fx.client, []string{"t"})
		s.subs.SetServer(fx.server, []string{"t"})
		s.pres = newPresences() // no follower: nobody else may get PRESENCE
		sender.bad.Store(0)

		sender.handle(sender.chans[kind], msg)

		for _, p := range append(fx.clients, fx.servers...) {
			p.mu.Lock()
			closed := p.closed
			p.mu.Unlock()
			if closed {
				t.Fatalf("peer %d closed by one message", p.alias)
			}
			for k, ch := range p.chans {
				for _, out := range ch.q.Take(nil) {
					if p == sender {
						checkToSender(t, chanKind(k), kind, msg, out)
					} else {
						checkForward(t, sender, p, chanKind(k), kind, out)
					}
				}
			}
		}
	})
}

func checkToSender(t *testing.T, got, sentOn chanKind, msg, out []byte) {
	t.Helper()
	typ, err := relay.ReadType(out)
	switch {
	case err != nil:
		t.Fatalf("sender got undecodable %x: %v", out, err)
	case typ == protocol.MessageType_ERROR && got == reliable:
	case typ == protocol.MessageType_PING && got == sentOn && (bytes.Equal(out, msg) || inBatch(msg, out)):
	// Answers to its own PRESENCE_REQUEST and SUBSCRIPTION.recover.
	case (typ == protocol.MessageType_PRESENCE || typ == protocol.MessageType_RECOVERY) && got == reliable:
	default:
		t.Fatalf("sender got %v on the %s channel: %x", typ, got, out)
	}
}

// inBatch reports whether msg is a BATCH that carries inner (a server link's
// batched PING is echoed alone).
func inBatch(msg, inner []byte) bool {
	it, err := relay.ParseBatch(msg)
	if err != nil {
		return false
	}
	for m, ok := it.Next(); ok; m, ok = it.Next() {
		if bytes.Equal(m, inner) {
			return true
		}
	}
	return false
}

func checkForward(t *testing.T, sender, p *peer, got, sentOn chanKind, out []byte) {
	t.Helper()
	m, err := relay.ParseTopic(out)
	if err != nil {
		t.Fatalf("peer %d got undecodable %x: %v", p.alias, out, err)
	}
	if got != sentOn {
		t.Fatalf("peer %d got on the %s channel a message sent on the %s one", p.alias, got, sentOn)
	}
	if string(m.Topic) != "t" {
		t.Fatalf("peer %d got topic %q, subscribed to t only", p.alias, m.Topic)
	}
	toServer := p.creds().isServer()
	switch m.Type {
	case protocol.MessageType_TOPIC_FW, protocol.MessageType_TOPIC_IDENTITY_FW:
		if toServer {
			t.Fatalf("server link %d got a %v", p.alias, m.Type)
		}
	case protocol.MessageType_TOPIC, protocol.MessageType_TOPIC_IDENTITY:
		if !toServer {
			t.Fatalf("client %d got a %v", p.alias, m.Type)
		}
	default:
		t.Fatalf("peer %d got a %v", p.alias, m.Type)
	}
	if sender.creds().isServer() {
		if toServer {
			t.Fatalf("a server link's message went on to server link %d", p.alias)
		}
		return
	}
	if m.From != sender.alias {
		t.Fatalf("forward from %d, want the sender's alias %d", m.From, sender.alias)
	}
	identified := m.Type == protocol.MessageType_TOPIC_IDENTITY || m.Type == protocol.MessageType_TOPIC_IDENTITY_FW
	if identified && (!bytes.Equal(m.Identity, sender.creds().identity) || m.Role != protocol.Role_CLIENT) {
		t.Fatalf("forward with identity %q role %v, want the sender's %q CLIENT", m.Identity, m.Role, sender.creds().identity)
	}
}

// FuzzFirstMessage feeds arbitrary bytes to a new peer as the first message
// of its reliable channel, the AUTH step, under the built-in allow-all. It
// must never panic and always settle the gate; a peer it lets in is a
// client (allow-all vouches for no server, whatever the AUTH claims); a peer
// it refuses gets exactly one ERROR{ERROR_AUTH_FAILED} and nothing else.
func FuzzFirstMessage(f *testing.F) {
	for _, b := range dataChannelSeeds(f) {
		f.Add(int32(protocol.Role_CLIENT), b)
		f.Add(int32(protocol.Role_UNKNOWN_ROLE), b)
	}
	fx := newRelayFixture(f, RoleServer, 0, 0)
	s := fx.s
	var alias atomic.Uint64
	alias.Store(1000)
	f.Fuzz(func(t *testing.T, signaled int32, msg []byte) {
		s.mu.Lock()
		p := s.newPeer(alias.Add(1), true, protocol.Role(signaled))
		s.mu.Unlock()
		defer p.close(0, "closed: fuzz input done", nil)

		p.handle(p.chans[reliable], msg)

		if !p.gate.settled() {
			t.Fatal("AUTH step did not settle")
		}
		out := p.chans[reliable].q.Take(nil)
		if extra := p.chans[unreliable].q.Take(nil); len(extra) > 0 {
			t.Fatalf("unreliable channel got %d messages", len(extra))
		}
		if p.gate.authorized() {
			if r := p.creds().role; r != protocol.Role_CLIENT {
				t.Fatalf("let in as %v under allow-all", r)
			}
			if len(out) > 0 {
				t.Fatalf("authorized client got %d messages", len(out))
			}
			return
		}
		if len(out) != 1 {
			t.Fatalf("refused peer got %d messages, want one ERROR", len(out))
		}
		var m protocol.ErrorMessage
		if err := proto.Unmarshal(out[0], &m); err != nil || m.Type != protocol.MessageType_ERROR ||
			m.Code != protocol.ErrorCode_ERROR_AUTH_FAILED {
			t.Fatalf("refused peer got %v (%v), want ERROR_AUTH_FAILED", &m, err)
		}
	})
}

// denyAll refuses everyone, with the request in the reason.
type denyAll struct{}

func (denyAll) Authenticate(_ context.Context, r auth.Request) (auth.Result, error) {
	return auth.Result{Reason: "denied " + r.Role.String()}, nil
}

func (denyAll) Credentials(context.Context, protocol.Role, auth.Target) (auth.Credentials, error) {
	return auth.Credentials{}, nil
}

func (denyAll) Close() error { return nil }

// FuzzAuthenticate feeds authenticate, the decode and check of AUTH,
// arbitrary bytes. It must never panic; every refusal wraps one of its
// sentinels; what it accepts is an AUTH whose role is a known one and agrees
// with the role the coordinator signaled.
func FuzzAuthenticate(f *testing.F) {
	for _, b := range dataChannelSeeds(f) {
		f.Add(int32(protocol.Role_CLIENT), b)
		f.Add(int32(protocol.Role_COMMUNICATION_SERVER), b)
		f.Add(int32(protocol.Role_UNKNOWN_ROLE), b)
	}
	sentinels := []error{errMalformed, errNotAuth, errAuthRole, errRoleMismatch, errAuthDenied, errAuthUnavailable}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, signaled int32, msg []byte) {
		sr := protocol.Role(signaled)
		c, err := authenticate(ctx, auth.AllowAll{}, time.Second, sr, msg)
		_, denyErr := authenticate(ctx, denyAll{}, time.Second, sr, msg)
		if denyErr == nil {
			t.Fatal("accepted under deny-all")
		}
		for _, e := range []error{err, denyErr} {
			if e != nil && !isOneOf(e, sentinels) {
				t.Fatalf("error without a sentinel: %v", e)
			}
		}
		if err != nil {
			return
		}
		var m protocol.AuthMessage
		if uerr := proto.Unmarshal(msg, &m); uerr != nil || m.Type != protocol.MessageType_AUTH || m.Role != c.role {
			t.Fatalf("accepted %v as %v (%v)", &m, c.role, uerr)
		}
		switch c.role {
		case protocol.Role_CLIENT, protocol.Role_COMMUNICATION_SERVER, protocol.Role_COMMUNICATION_SERVER_HUB:
		default:
			t.Fatalf("accepted role %v", c.role)
		}
		if sr != protocol.Role_UNKNOWN_ROLE && isServerRole(sr) != c.isServer() {
			t.Fatalf("accepted %v where the coordinator signaled %v", c.role, sr)
		}
		if c.identity == nil {
			t.Fatal("nil identity")
		}
	})
}

func isOneOf(err error, sentinels []error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}
