package commserver_test

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/webrtc-broker/webrtc-broker/client"
	"github.com/webrtc-broker/webrtc-broker/commserver"
	"github.com/webrtc-broker/webrtc-broker/core/relay"
	"github.com/webrtc-broker/webrtc-broker/internal/clienthooks"
	"github.com/webrtc-broker/webrtc-broker/internal/testwait"
	"github.com/webrtc-broker/webrtc-broker/protocol"
	"github.com/webrtc-broker/webrtc-broker/test/cluster"
)

// batchWindow is the outbound.coalesce of the batching tests' servers: a
// writer under traffic gathers this long, so a burst of publishes is sure to
// find its messages queued together (far longer than a burst takes), while
// the first message of each burst still leaves at once.
const batchWindow = 500 * time.Millisecond

// batchedMessages are the metrics of what batching did.
const (
	batchesSent     = "commserver_batches_sent_total"
	batchesReceived = "commserver_batches_received_total"
)

func coalesced(_ int, cfg *commserver.Config) { cfg.Outbound.Coalesce = batchWindow }

// wire records the raw data-channel messages a client reads, by channel.
type wire struct {
	mu     sync.Mutex
	frames map[bool][][]byte // by reliable
}

func recordWire(w *wire) func(*client.Config) {
	w.frames = map[bool][][]byte{}
	return func(cfg *client.Config) {
		clienthooks.OnFrame(cfg, func(reliable bool, b []byte) {
			w.mu.Lock()
			w.frames[reliable] = append(w.frames[reliable], bytes.Clone(b))
			w.mu.Unlock()
		})
	}
}

// topicFrames returns the TOPIC_FW messages on topic the client read on a
// channel, unpacked from BATCHes, and how many BATCHes carried them.
func (w *wire) topicFrames(t *testing.T, reliable bool, topic string) (msgs [][]byte, batches int) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	add := func(b []byte) {
		if m, err := relay.ParseTopic(b); err == nil && string(m.Topic) == topic {
			msgs = append(msgs, b)
		}
	}
	for _, f := range w.frames[reliable] {
		typ, err := relay.ReadType(f)
		if err != nil || typ != protocol.MessageType_BATCH {
			add(f)
			continue
		}
		batches++
		it, err := relay.ParseBatch(f)
		if err != nil {
			t.Fatalf("the server sent a malformed BATCH: %v", err)
		}
		for m, ok := it.Next(); ok; m, ok = it.Next() {
			add(m)
		}
	}
	return msgs, batches
}

// sawType reports whether the client read a message of type typ.
func (w *wire) sawType(typ protocol.MessageType) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, fs := range w.frames {
		for _, f := range fs {
			if got, err := relay.ReadType(f); err == nil && got == typ {
				return true
			}
		}
	}
	return false
}

// largest is the size of the largest message the client read on a channel.
func (w *wire) largest(reliable bool) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, f := range w.frames[reliable] {
		n = max(n, len(f))
	}
	return n
}

// burst publishes n numbered messages on topic as fast as the client takes
// them, and returns their bodies.
func burst(t *testing.T, from *client.Client, topic, prefix string, n int, ch client.Channel) []string {
	t.Helper()
	bodies := make([]string, n)
	for i := range bodies {
		bodies[i] = fmt.Sprintf("%s-%03d-%s", prefix, i, bytes.Repeat([]byte("x"), 60))
		publish(t, from, topic, bodies[i], ch)
	}
	return bodies
}

// receiveAll waits until cl has received bodies on topic, in order, skipping
// anything else.
func receiveAll(t *testing.T, cl *client.Client, topic string, bodies []string) {
	t.Helper()
	for _, b := range bodies {
		receive(t, cl, topic, b)
	}
}

// TestE2EBatchingAnd2019ClientsOnOneTopic: a client acting as a 2019 one (no
// features in its AUTH) and a batching client (the SDK's default) on one
// topic both get every reliable message of a burst, in order; the 2019
// client never reads a BATCH, on either channel, and the batching client
// reads the very same TOPIC_FW bytes, most of them inside BATCHes, none
// larger than one packet on the unreliable channel.
func TestE2EBatchingAnd2019ClientsOnOneTopic(t *testing.T) {
	cl := cluster.Start(t, cluster.Options{Server: coalesced})
	var oldWire, newWire wire
	pub := cl.Client(t)
	old := cl.Client(t, func(cfg *client.Config) { cfg.DisableBatching = true }, recordWire(&oldWire))
	batching := cl.Client(t, recordWire(&newWire))
	for _, c := range []*client.Client{pub, old, batching} {
		subscribe(t, c, "mixed")
	}
	reach(t, pub, old, "mixed", client.Reliable)
	reach(t, pub, batching, "mixed", client.Reliable)

	const n = 100
	bodies := burst(t, pub, "mixed", "r", n, client.Reliable)
	unreliable := burst(t, pub, "mixed", "u", n, client.Unreliable)
	final := burst(t, pub, "mixed", "end", 1, client.Reliable)
	for _, c := range []*client.Client{old, batching} {
		receiveAll(t, c, "mixed", bodies)
		receiveAll(t, c, "mixed", final) // unreliable ones before it are in or lost
	}

	if oldWire.sawType(protocol.MessageType_BATCH) {
		t.Fatal("the 2019 client read a BATCH")
	}
	oldMsgs, _ := oldWire.topicFrames(t, true, "mixed")
	newMsgs, batches := newWire.topicFrames(t, true, "mixed")
	if !slices.EqualFunc(oldMsgs, newMsgs, bytes.Equal) {
		t.Fatalf("the two clients read different TOPIC_FWs: %d and %d", len(oldMsgs), len(newMsgs))
	}
	if batches == 0 {
		t.Fatal("the batching client read no BATCH on the reliable channel")
	}
	if got := newWire.largest(false); got > 1100 {
		t.Fatalf("the batching client read a %d-byte message on the unreliable channel, over one packet", got)
	}
	_, unreliableBatches := newWire.topicFrames(t, false, "mixed")
	t.Logf("%d reliable messages in %d batches; %d unreliable sent, %d batches of them", n, batches, len(unreliable), unreliableBatches)
	if cl.Counter(t, 0, batchesSent, nil) < float64(batches) {
		t.Fatalf("%s = %v, below the %d batches the client read", batchesSent, cl.Counter(t, 0, batchesSent, nil), batches)
	}
}

// TestE2EClientBatchIsAProtocolViolation: servers do not take BATCH from a
// client; the sender is told, nothing in it is relayed, and the client is
// handled like any other offender.
func TestE2EClientBatchIsAProtocolViolation(t *testing.T) {
	cl := cluster.Start(t, cluster.Options{})
	bad, other := cl.Client(t), cl.Client(t)
	subscribe(t, bad, "b")
	subscribe(t, other, "b")
	reach(t, bad, other, "b", client.Reliable)
	batch := relay.AppendBatch(nil, relay.AppendTopic(nil, 0, "b", []byte("smuggled")))
	if err := clienthooks.SendRaw(bad, true, batch); err != nil {
		t.Fatal(err)
	}
	cluster.ReceiveError(t, bad, eventTimeout, cluster.ErrorCode(protocol.ErrorCode_ERROR_PROTOCOL_VIOLATION, ""))
	publish(t, bad, "b", "after", client.Reliable)
	next(t, other, "b", "after") // the barrier: "smuggled" would have come first
}

// TestE2EServerLinkBatchingSurvivesRestart: both ends of a server link list
// FEATURE_BATCH, so a burst across the link travels in batches; after the
// link is closed and made again, it still does, and nothing is lost.
func TestE2EServerLinkBatchingSurvivesRestart(t *testing.T) {
	cl := cluster.Start(t, cluster.Options{Servers: 2, Server: coalesced})
	a, b := cl.Client(t, cl.On(0)), cl.Client(t, cl.On(1))
	subscribe(t, a, "link")
	subscribe(t, b, "link")
	reach(t, a, b, "link", client.Reliable)

	across := func(round string) {
		t.Helper()
		before := cl.Counter(t, 1, batchesReceived, nil)
		receiveAll(t, b, "link", burst(t, a, "link", round, 50, client.Reliable))
		if got := cl.Counter(t, 1, batchesReceived, nil); got <= before {
			t.Fatalf("%s: server 1 received %v batches from its link, want more than %v", round, got, before)
		}
	}
	across("before")
	if n := commserver.CloseServerLinksForTest(cl.Server(0)); n != 1 {
		t.Fatalf("closed %d server links, want 1", n)
	}
	testwait.For(t, cluster.EventTimeout, "the server link back on both servers", func() bool {
		for i := range 2 {
			if cl.Server(i).Stats().Servers != 1 || cl.Counter(t, i, linksRestored, nil) < 1 {
				return false
			}
		}
		return true
	})
	reach(t, a, b, "link", client.Reliable)
	across("after")
}
