package commserver

import (
	"fmt"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/webrtc-broker/webrtc-broker/core/relay"
	"github.com/webrtc-broker/webrtc-broker/protocol"
)

// Batching (protocol.BatchMessage, negotiated with FEATURE_BATCH): a peer
// whose AUTH listed FEATURE_BATCH is sent, on both channels, what its
// writer takes in one wake-up as BATCH messages; every other peer (a 2019
// client lists no features) keeps the 2019 wire byte for byte. This server
// lists FEATURE_BATCH in the AUTH it sends on server links, so a link
// batches in each direction whose receiver supports it.
//
// Who may send BATCH: servers only, on server links. A client's BATCH is a
// protocol violation like any other unexpected type: a client's messages
// each pass the topic policy, the rate limit and the stamping one by one,
// and what batching saves is on the fan-out side, where one publish becomes
// many deliveries; a client's own writes gain little from it.

const (
	// unreliableBatchBytes bounds a batch on the unreliable channel to one
	// packet's payload, so that losing a packet loses one batch, no more
	// than it lost before batching (SCTP packs small messages in a packet
	// too), rather than every message of a batch fragmented over several
	// packets, all lost with any one of them (an unreliable message is
	// never retransmitted). Pion's SCTP sends at most 1,200 bytes of user
	// data per packet (its fixed 1,228-byte MTU less the SCTP common and
	// DATA chunk headers); browsers' SCTP stacks use a little less; 1,100
	// fits all of them with room for a bundled SACK chunk.
	unreliableBatchBytes = 1100
	// maxBatchBytes bounds a reliable batch as well as max_message_size
	// does: it is what the Go SDK's read buffer and pion's default SCTP
	// max-message-size (65,536, announced in the SDP) take in one message.
	// A server link's batches are read under the other server's
	// max_message_size: the servers of a cluster share that setting, as
	// they share the messages it admits.
	maxBatchBytes = 64 << 10
	// linkReliableBatchBytes bounds a reliable batch on a server link far
	// below maxBatchBytes, for the link's unreliable traffic: both channels
	// of a link share one SCTP association, and pion sends every fragment
	// of a message it has started before any other stream's chunk
	// (pendingQueue keeps the started message selected), so an unreliable
	// message queued behind a 64 KiB reliable batch waits for its 55
	// packets, and for as many congestion-window rounds as they take. A
	// link carries the traffic of every publisher on its server, so its
	// writer finds more queued at a wake-up than a client's does. 8 KiB is 7 packets of
	// pion's 1,200 bytes of payload, and still about 60 messages of 130
	// bytes per batch: what batching saves per message is nearly all
	// saved at that size (the per-packet costs stay, whatever the batch).
	linkReliableBatchBytes = 8 << 10
)

// batchLimits returns the batch size bound for each channel kind, on a
// server link (link) or to a client.
func (s *Server) batchLimits(link bool) [2]int {
	rel := maxBatchBytes
	if link {
		rel = linkReliableBatchBytes
	}
	return [2]int{
		reliable:   min(s.cfg.MaxMessageSize, rel),
		unreliable: min(s.cfg.MaxMessageSize, unreliableBatchBytes),
	}
}

// localFeatures is what this server lists in the AUTH it sends on a
// server link.
var localFeatures = []protocol.Feature{protocol.Feature_FEATURE_BATCH}

// hasBatch reports whether an AUTH's features list FEATURE_BATCH.
func hasBatch(features []protocol.Feature) bool {
	return slices.Contains(features, protocol.Feature_FEATURE_BATCH)
}

// startBatching turns batching on for both of the peer's queues once its
// AUTH has shown it unpacks batches. What is queued already (this server's
// own AUTH on a link it offered) still goes out alone and first.
func (p *peer) startBatching() {
	limits := p.s.batchLimits(p.creds().isServer())
	for _, ch := range p.chans {
		ch.q.EnableBatching(limits[ch.kind], relay.BatchFramer{})
	}
}

// handleBatch unpacks a BATCH from a server link and handles each inner
// message as if it had come alone, in order, on the same channel. A BATCH
// from a client, one that does not parse, or one inside a batch is a
// protocol violation. So is a batch with a bad inner message: it counts as
// one violation, as a bad message alone would, and what follows the bad
// message in the batch is dropped, so that one batch can neither close
// the link by itself nor flood the log.
func (p *peer) handleBatch(ch *channel, msg []byte) {
	if !p.creds().isServer() {
		p.violate(ch.kind, protocol.MessageType_BATCH, fmt.Errorf("%w: clients may not send BATCH", errUnexpected))
		return
	}
	it, err := relay.ParseBatch(msg)
	if err != nil {
		p.violate(ch.kind, protocol.MessageType_BATCH, fmt.Errorf("%w: %w", errMalformed, err))
		return
	}
	p.s.m.batchesIn.Inc()
	bad := p.bad.Load()
	for inner, ok := it.Next(); ok && p.ctx.Err() == nil; inner, ok = it.Next() {
		if t, err := relay.ReadType(inner); err == nil && t == protocol.MessageType_BATCH {
			p.violate(ch.kind, t, errNestedBatch)
			return
		}
		p.handle(ch, inner)
		if p.bad.Load() != bad {
			return // handle found the message bad and said so
		}
	}
}

// batchCollector exports the batches written, reading live peers' queues at
// scrape time so that the writers do no extra work.
type batchCollector struct {
	m    *metrics
	s    *Server
	desc *prometheus.Desc
}

func (c *batchCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *batchCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.m.batchesClosed.Load()
	for _, p := range c.s.snapshotPeers() {
		n += p.chans[reliable].q.Batches() + p.chans[unreliable].q.Batches()
	}
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(n))
}
