package commserver

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/core/outbound"
	"github.com/webrtc-broker/webrtc-broker/core/relay"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// copySink records copies of what a writer hands it: a batch is framed in
// a pooled buffer that is reused once Write returns.
type copySink chan []byte

func (c copySink) Write(b []byte) (int, error) { c <- bytes.Clone(b); return len(b), nil }
func (c copySink) Buffered() uint64            { return 0 }

// writes starts p's writer on kind once everything is queued, and returns
// the data-channel messages it writes until they carry want messages.
func writes(t *testing.T, p *peer, kind chanKind, want int) [][]byte {
	t.Helper()
	sink := make(copySink, 1024)
	go func() { _ = p.chans[kind].q.Run(p.ctx, sink, 1<<30, nil) }()
	var got [][]byte
	for n := 0; n < want; {
		select {
		case b := <-sink:
			got = append(got, b)
			n += len(inner(t, b))
		case <-time.After(5 * time.Second):
			t.Fatalf("peer %d: %d of %d messages written", p.alias, n, want)
		}
	}
	return got
}

// inner returns the messages a written data-channel message carries: those
// of a BATCH, or itself.
func inner(t *testing.T, b []byte) [][]byte {
	t.Helper()
	if typ, err := relay.ReadType(b); err != nil || typ != protocol.MessageType_BATCH {
		return [][]byte{b}
	}
	it, err := relay.ParseBatch(b)
	if err != nil {
		t.Fatalf("written BATCH does not parse: %v", err)
	}
	var msgs [][]byte
	for m, ok := it.Next(); ok; m, ok = it.Next() {
		msgs = append(msgs, m)
	}
	return msgs
}

func isBatch(b []byte) bool {
	typ, err := relay.ReadType(b)
	return err == nil && typ == protocol.MessageType_BATCH
}

// TestBatchingIsPerPeer: the same publishes reach a peer that declared
// FEATURE_BATCH as one BATCH and a 2019 peer as the 2019 messages, byte for
// byte the same TOPIC_FWs inside the batch as outside.
func TestBatchingIsPerPeer(t *testing.T) {
	f := newRelayFixture(t, RoleServer, 3, 0)
	sender, batching, plain := f.clients[0], f.clients[1], f.clients[2]
	batching.startBatching()
	for i := range 3 {
		sender.handle(sender.chans[reliable], relay.AppendTopic(nil, 0, "t", fmt.Appendf(nil, "m%d", i)))
	}
	got := writes(t, batching, reliable, 3)
	want := writes(t, plain, reliable, 3)
	if len(want) != 3 || slices.ContainsFunc(want, isBatch) {
		t.Fatalf("the 2019 peer got %d writes (a BATCH among them: %v), want 3 TOPIC_FW", len(want), slices.ContainsFunc(want, isBatch))
	}
	if len(got) != 1 || !isBatch(got[0]) {
		t.Fatalf("the batching peer got %d writes, want one BATCH", len(got))
	}
	if msgs := inner(t, got[0]); !slices.EqualFunc(msgs, want, bytes.Equal) {
		t.Fatalf("the batch carries %x, the 2019 peer got %x", msgs, want)
	}
}

// TestBatchSplitsAtThePacketBudget: on the unreliable channel a run of
// messages that would exceed one packet's payload is split into batches
// that each fit it; on the reliable one a batch may be larger.
func TestBatchSplitsAtThePacketBudget(t *testing.T) {
	const n = 40 // of about 110 bytes each: over 4 KiB in all
	f := newRelayFixture(t, RoleServer, 2, 0)
	sender, to := f.clients[0], f.clients[1]
	to.chans[unreliable].q = outbound.NewUnreliable(2 * n) // the fixture's holds 4
	to.startBatching()
	var bodies []string
	for i := range n {
		body := fmt.Sprintf("%03d%s", i, bytes.Repeat([]byte("x"), 97))
		bodies = append(bodies, body)
		sender.handle(sender.chans[unreliable], relay.AppendTopic(nil, 0, "t", []byte(body)))
		sender.handle(sender.chans[reliable], relay.AppendTopic(nil, 0, "t", []byte(body)))
	}
	for _, kind := range []chanKind{unreliable, reliable} {
		var got []string
		batches, largest := 0, 0
		for _, w := range writes(t, to, kind, n) {
			largest = max(largest, len(w))
			if isBatch(w) {
				batches++
			}
			for _, m := range inner(t, w) {
				msg, err := relay.ParseTopic(m)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, string(msg.Body))
			}
		}
		if !slices.Equal(got, bodies) {
			t.Fatalf("%s: delivered %q, want all %d in order", kind, got, n)
		}
		switch kind {
		case unreliable:
			if largest > unreliableBatchBytes || batches < 4 {
				t.Fatalf("unreliable: %d batches, the largest write %d bytes; want every one within %d, so at least 4",
					batches, largest, unreliableBatchBytes)
			}
		case reliable:
			if batches != 1 || largest <= unreliableBatchBytes {
				t.Fatalf("reliable: %d batches, the largest %d bytes; want one batch of everything", batches, largest)
			}
		}
	}
}

// TestBatchProtocolViolations: what is wrong with a BATCH is a protocol
// violation, counted once per batch and answered with an ERROR, and nothing
// after the fault is relayed.
func TestBatchProtocolViolations(t *testing.T) {
	good := func(body string) []byte { return relay.AppendTopic(nil, 9, "t", []byte(body)) }
	tests := []struct {
		name       string
		fromClient bool
		msg        []byte
		relayed    []string
		wantErr    error
	}{
		{"a client may not batch", true, relay.AppendBatch(nil, good("a"), good("b")), nil, errUnexpected},
		{"no message", false, relay.AppendBatchHeader(nil), nil, errMalformed},
		{"truncated", false, relay.AppendBatch(nil, good("a"))[:5], nil, errMalformed},
		{"a batch inside", false, relay.AppendBatch(nil, good("a"), relay.AppendBatch(nil, good("b")), good("c")), []string{"a"}, errNestedBatch},
		{"a bad message inside", false, relay.AppendBatch(nil, good("a"), []byte{0x08}, good("c")), []string{"a"}, errMalformed},
		{"an unexpected type inside", false, relay.AppendBatch(nil, relay.AppendTopicFW(nil, 9, "t", nil), good("c")), nil, errUnexpected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newRelayFixture(t, RoleServer, 2, 1)
			sender, to := f.servers[0], f.clients[1]
			if tt.fromClient {
				sender = f.clients[0]
			}
			sender.handle(sender.chans[reliable], tt.msg)
			if n := sender.bad.Load(); n != 1 {
				t.Fatalf("%d violations, want one", n)
			}
			out := sender.chans[reliable].q.Take(nil)
			if len(out) != 1 {
				t.Fatalf("sender got %d messages, want one ERROR", len(out))
			}
			// The ERROR's reason is the violation's error text.
			e, err := relay.ParseError(out[0])
			if err != nil || e.Code != protocol.ErrorCode_ERROR_PROTOCOL_VIOLATION || !strings.Contains(string(e.Reason), tt.wantErr.Error()) {
				t.Fatalf("sender got %x (%v), want ERROR_PROTOCOL_VIOLATION saying %q", out[0], err, tt.wantErr)
			}
			var got []string
			for _, m := range to.chans[reliable].q.Take(nil) {
				msg, err := relay.ParseTopic(m)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, string(msg.Body))
			}
			if !slices.Equal(got, tt.relayed) {
				t.Fatalf("relayed %q, want %q", got, tt.relayed)
			}
		})
	}
}

// TestServerLinkBatchIsRelayedMessageByMessage: each message of a server
// link's BATCH is relayed as if it had come alone.
func TestServerLinkBatchIsRelayedMessageByMessage(t *testing.T) {
	f := newRelayFixture(t, RoleServer, 1, 2)
	from := f.servers[0]
	from.handle(from.chans[unreliable], relay.AppendBatch(nil,
		relay.AppendTopic(nil, 7, "t", []byte("a")),
		relay.AppendTopicIdentity(nil, 8, "t", []byte("bob"), protocol.Role_CLIENT, []byte("b"))))
	got := f.clients[0].chans[unreliable].q.Take(nil)
	if len(got) != 2 {
		t.Fatalf("client got %d messages, want 2", len(got))
	}
	a, _ := relay.ParseTopic(got[0])
	b, _ := relay.ParseTopic(got[1])
	if a.Type != protocol.MessageType_TOPIC_FW || a.From != 7 || string(a.Body) != "a" ||
		b.Type != protocol.MessageType_TOPIC_IDENTITY_FW || b.From != 8 || string(b.Identity) != "bob" {
		t.Fatalf("client got %+v and %+v", a, b)
	}
	expectNothing(t, "the other server", f.servers[1])
	if from.bad.Load() != 0 {
		t.Fatalf("%d violations", from.bad.Load())
	}
}

// TestServerLinkReliableBatchesStayShort: on a server link a reliable
// batch stays within linkReliableBatchBytes, so that the link's unreliable
// messages never wait behind a long fragmented one in the shared SCTP
// association; a client's reliable batch may still be as large as
// maxBatchBytes. Every message arrives, in order, either way.
func TestServerLinkReliableBatchesStayShort(t *testing.T) {
	const n = 200 // of about 110 bytes each: over 20 KiB in all
	f := newRelayFixture(t, RoleServer, 2, 1)
	sender, client, link := f.clients[0], f.clients[1], f.servers[0]
	client.startBatching()
	link.startBatching()
	var bodies []string
	for i := range n {
		body := fmt.Sprintf("%03d%s", i, bytes.Repeat([]byte("x"), 97))
		bodies = append(bodies, body)
		sender.handle(sender.chans[reliable], relay.AppendTopic(nil, 0, "t", []byte(body)))
	}
	for _, to := range []*peer{link, client} {
		var got []string
		batches, largest := 0, 0
		for _, w := range writes(t, to, reliable, n) {
			largest = max(largest, len(w))
			if isBatch(w) {
				batches++
			}
			for _, m := range inner(t, w) {
				msg, err := relay.ParseTopic(m)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, string(msg.Body))
			}
		}
		if !slices.Equal(got, bodies) {
			t.Fatalf("peer %d: delivered %d messages out of order or not all, want all %d in order", to.alias, len(got), n)
		}
		switch to {
		case link:
			if largest > linkReliableBatchBytes || batches < 3 {
				t.Fatalf("server link: %d batches, the largest write %d bytes; want every one within %d, so at least 3",
					batches, largest, linkReliableBatchBytes)
			}
		case client:
			if batches != 1 || largest <= linkReliableBatchBytes {
				t.Fatalf("client: %d batches, the largest %d bytes; want one batch of everything", batches, largest)
			}
		}
	}
}
