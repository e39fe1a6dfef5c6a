package coordinator

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/webrtc-broker/webrtc-broker/core/logging"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// fuzzFrom is the sender's alias in the fuzz targets; fuzzTo an alias the
// seeds address.
const (
	fuzzFrom = 7
	fuzzTo   = 8
)

func addRelayedSeeds(f *testing.F) {
	for _, m := range []proto.Message{
		&protocol.ConnectMessage{Type: protocol.MessageType_CONNECT, FromAlias: spoofed, ToAlias: fuzzTo,
			FromRole: protocol.Role_COMMUNICATION_SERVER_HUB},
		&protocol.WebRtcMessage{Type: protocol.MessageType_WEBRTC_OFFER, ToAlias: fuzzTo, Data: []byte(`{"type":"offer","sdp":"v=0"}`)},
		&protocol.WebRtcMessage{Type: protocol.MessageType_WEBRTC_ANSWER, ToAlias: fuzzTo, Data: []byte(`{"type":"answer","sdp":"v=0"}`)},
		&protocol.WebRtcMessage{Type: protocol.MessageType_WEBRTC_ICE_CANDIDATE, ToAlias: fuzzTo,
			Data: []byte(`{"candidate":"candidate:1 1 udp 1 127.0.0.1 5000 typ host"}`)},
		&protocol.ConnectionRefusedMessage{Type: protocol.MessageType_CONNECTION_REFUSED, ToAlias: fuzzTo,
			Reason: protocol.ConnectionRefusedReason_SERVER_FULL, Data: []byte("full")},
		&protocol.ConnectMessage{Type: protocol.MessageType_CONNECT, ToAlias: fuzzFrom}, // self-addressed
		&protocol.WebRtcMessage{Type: protocol.MessageType_WEBRTC_OFFER},                // no target
		&protocol.WelcomeMessage{Type: protocol.MessageType_WELCOME, Alias: fuzzTo},     // not relayed
		// For the coordinator itself, from servers (load.go): never relayed.
		&protocol.DrainMessage{Type: protocol.MessageType_DRAIN, GraceMs: 30000},
		&protocol.LoadReportMessage{Type: protocol.MessageType_LOAD_REPORT, Clients: 3, Connecting: 1, Capacity: 10,
			Cpu: 0.25, RssBytes: 1 << 20, Draining: true},
	} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0x08})                     // truncated type
	f.Add([]byte{0x08, 0x09, 0x1a, 0x7f})   // a length past the end
	f.Add([]byte("\xde\xad\xbe\xef bytes")) // garbage
}

// FuzzDecodeRelayed feeds decodeRelayed, the decode of every frame a peer
// sends on /connect or /discover, arbitrary bytes. It must never panic; what
// it accepts is a relayed type with a target other than the sender, stamped
// with the sender's alias (and role, for CONNECT), and re-encodes to a message
// that decodes to the same thing.
func FuzzDecodeRelayed(f *testing.F) {
	addRelayedSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, role := range []protocol.Role{protocol.Role_CLIENT, protocol.Role_COMMUNICATION_SERVER} {
			r, err := decodeRelayed(b, fuzzFrom, role)
			if err != nil {
				if r.msg != nil && !errors.Is(err, errNoTarget) && !errors.Is(err, errSelfAddressed) {
					t.Fatalf("error %v with a message", err)
				}
				continue
			}
			checkRelayed(t, r, role)
		}
	})
}

func checkRelayed(t *testing.T, r relayed, role protocol.Role) {
	t.Helper()
	if r.to == 0 || r.to == fuzzFrom {
		t.Fatalf("accepted to_alias %d", r.to)
	}
	var from, to uint64
	switch m := r.msg.(type) {
	case *protocol.ConnectMessage:
		if m.GetFromRole() != role {
			t.Fatalf("CONNECT from_role %v, want the sender's %v", m.GetFromRole(), role)
		}
		from, to = m.GetFromAlias(), m.GetToAlias()
	case *protocol.WebRtcMessage:
		from, to = m.GetFromAlias(), m.GetToAlias()
	case *protocol.ConnectionRefusedMessage:
		from, to = m.GetFromAlias(), m.GetToAlias()
	default:
		t.Fatalf("accepted %s as %T", r.typ, r.msg)
	}
	if from != fuzzFrom || to != r.to {
		t.Fatalf("%s from %d to %d, want from %d to %d", r.typ, from, to, fuzzFrom, r.to)
	}
	out, err := proto.Marshal(r.msg)
	if err != nil {
		t.Fatalf("re-encode %s: %v", r.typ, err)
	}
	again, err := decodeRelayed(out, fuzzFrom, role)
	if err != nil {
		t.Fatalf("re-encoded %s does not decode: %v", r.typ, err)
	}
	if again.typ != r.typ || again.to != r.to || !proto.Equal(again.msg, r.msg) {
		t.Fatalf("re-encoded %s decodes to %v, want %v", r.typ, again.msg, r.msg)
	}
}

// FuzzHandle runs the whole relay step on registered peers without sockets
// (a client and two servers): the client and one server each send the fuzzed
// frame. It must never panic, whatever reaches another peer's queue is a
// relayed type addressed to it and stamped with the sender's alias, and the
// sender gets nothing but a CONNECTION_REFUSED.
func FuzzHandle(f *testing.F) {
	addRelayedSeeds(f)
	c, err := New(Config{}, Options{Logger: logging.Discard()})
	if err != nil {
		f.Fatal(err)
	}
	mk := func(alias uint64, role protocol.Role) *peer {
		return newPeer(nil, role, alias, c.timing, c.queueLimit, nil, logging.Discard())
	}
	client, srv, target := mk(fuzzFrom, protocol.Role_CLIENT), mk(fuzzFrom+100, protocol.Role_COMMUNICATION_SERVER),
		mk(fuzzTo, protocol.Role_COMMUNICATION_SERVER)
	for _, p := range []*peer{client, srv, target} {
		c.dir.peers[p.alias] = p
		if p.isServer() {
			c.dir.servers[p.alias] = &server{alias: p.alias}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, p := range []*peer{client, srv} {
			// Fresh limits: the fuzzer's many messages are no flood.
			p.limit, p.bad = newSignalLimit(c.cfg.Signal, p.role, time.Now()), 0
			c.handle(p, b)
			for _, q := range []*peer{client, srv, target} {
				if q == p {
					continue
				}
				for _, out := range q.out.Take(nil) {
					r, err := decodeRelayed(out, p.alias, p.role)
					if err != nil {
						t.Fatalf("relayed a frame that does not decode: %v", err)
					}
					if got := stampedFrom(r.msg); got != p.alias || r.to != q.alias {
						t.Fatalf("relayed %s from %d to %d, want from %d to %d", r.typ, got, r.to, p.alias, q.alias)
					}
				}
			}
			for _, out := range p.out.Take(nil) {
				// Only a server's CONNECT to a gone alias is answered.
				var m protocol.ConnectionRefusedMessage
				if err := proto.Unmarshal(out, &m); err != nil || m.GetType() != protocol.MessageType_CONNECTION_REFUSED {
					t.Fatalf("sender got %x (%v)", out, err)
				}
			}
		}
	})
}

func stampedFrom(m proto.Message) uint64 {
	switch m := m.(type) {
	case *protocol.ConnectMessage:
		return m.GetFromAlias()
	case *protocol.WebRtcMessage:
		return m.GetFromAlias()
	case *protocol.ConnectionRefusedMessage:
		return m.GetFromAlias()
	}
	return 0
}
