package outbound

import (
	"fmt"
	"sync"
)

// Batching: once the peer has said it unpacks batches (the broker's BATCH,
// framed by relay.BatchFramer, after the peer declared FEATURE_BATCH), Run writes the messages it took in one wake-up as few
// BatchMessages as the size bound allows, instead of one data-channel
// message each. It adds no latency (a batch is only what was queued
// already, or what gathered within the coalesce window), and one
// data-channel message carries several: pion's per-message SCTP, DTLS and
// syscall costs are paid once per batch. The inner messages are the bytes
// the relay encoded once for every subscriber, framed behind a tag and a
// length, never re-encoded. A batch of one is sent as the message itself,
// so a peer that receives one message at a time sees no BATCH at all.

// Framer frames several messages as one. The queue knows nothing of the
// wire protocol; its owner passes the protocol's framing.
type Framer interface {
	// HeaderSize is the size of a frame that holds no message.
	HeaderSize() int
	// EntrySize is how much a message of n bytes adds to a frame.
	EntrySize(n int) int
	// AppendHeader starts a frame in dst; AppendEntry adds one message.
	AppendHeader(dst []byte) []byte
	AppendEntry(dst, msg []byte) []byte
}

// EnableBatching makes Run batch every message pushed from now on, framed
// by f, in batches of at most limit bytes; limit <= 0 stops batching. What is queued
// already (an AUTH, which the remote must read alone and first) is still
// written as itself. Safe to call from any goroutine, also while Run runs.
func (q *Queue) EnableBatching(limit int, f Framer) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.batchLimit = max(limit, 0)
	q.framer = f
	q.batchFrom = q.msgs
}

// Written returns how many messages Run has handed to the sink, counting
// each message of a batch.
func (q *Queue) Written() uint64 { return q.written.Load() }

// Batches returns how many frames of several messages Run has written.
func (q *Queue) Batches() uint64 { return q.batches.Load() }

// Writes returns how many data-channel messages Run has written: a batch
// counts once, so Written / Writes is the mean batch size.
func (q *Queue) Writes() uint64 { return q.writes.Load() }

// batchPlan is what Run takes from the queue, under its lock, with a
// batch: the number of the batch's first message and the batching state.
type batchPlan struct {
	first, from uint64
	limit       int
	framer      Framer
}

// frames holds the buffers that batches are framed in, shared by every
// writer: pion copies what it is given before Write returns, so a buffer is
// back in the pool before the next batch, and an idle peer holds none.
var frames = sync.Pool{New: func() any { return new([]byte) }}

// write writes batch (taken as plan says) to sink: runs of batchable
// messages as frames within plan.limit, every other message as
// itself. It clears what it wrote from batch. The error is the first failed
// write's.
func (q *Queue) write(sink Sink, batch [][]byte, plan batchPlan) error {
	for i := 0; i < len(batch); {
		n := 1
		if plan.limit > 0 && plan.first+uint64(i) >= plan.from {
			n = max(fits(plan.framer, batch[i:], plan.limit), 1)
		}
		if n == 1 {
			if _, err := sink.Write(batch[i]); err != nil {
				return fmt.Errorf("outbound: write of %d bytes: %w", len(batch[i]), err)
			}
		} else {
			if err := writeFrame(sink, plan.framer, batch[i:i+n]); err != nil {
				return err
			}
			q.batches.Add(1)
		}
		q.writes.Add(1)
		q.written.Add(uint64(n))
		clear(batch[i : i+n]) // do not keep the messages alive until the next batch
		i += n
	}
	return nil
}

// fits returns how many of msgs, from the first, fit one batch of at most
// limit bytes (0: the first does not fit one on its own, so it is written
// as itself, as a batch of 1 is).
func fits(f Framer, msgs [][]byte, limit int) int {
	size := f.HeaderSize()
	for n, m := range msgs {
		size += f.EntrySize(len(m))
		if size > limit {
			return n
		}
	}
	return len(msgs)
}

// writeFrame writes msgs as one frame.
func writeFrame(sink Sink, f Framer, msgs [][]byte) error {
	bp := frames.Get().(*[]byte)
	b := f.AppendHeader((*bp)[:0])
	for _, m := range msgs {
		b = f.AppendEntry(b, m)
	}
	_, err := sink.Write(b)
	*bp = b[:0]
	frames.Put(bp)
	if err != nil {
		return fmt.Errorf("outbound: write of a batch of %d messages, %d bytes: %w", len(msgs), len(b), err)
	}
	return nil
}
