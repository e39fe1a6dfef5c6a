package outbound

import (
	"context"
	"sync/atomic"
	"time"
)

// Sink is a detached pion data channel seen from the writer. Write sends one
// message (one data-channel message per call, as the detached
// datachannel.ReadWriteCloser does) and keeps no reference to p once it
// returns (pion copies it into its SCTP chunks): batches are framed in
// reused buffers. Buffered is the *webrtc.DataChannel's
// BufferedAmount(): the bytes pion has accepted but SCTP has not yet sent.
type Sink interface {
	Write(p []byte) (int, error)
	Buffered() uint64
}

// Run writes queued messages to sink until ctx is done or the queue is
// closed (it then returns nil: both are deliberate stops) or a write fails
// (it returns that error, wrapped).
//
// Pion's Write does not block: it appends to SCTP's own unbounded buffer. So
// when sink.Buffered() is above highWater, Run waits for a value on low (the
// owner sends one, without blocking, on a capacity-1 channel from
// OnBufferedAmountLow, whose threshold must be at or below highWater) before
// writing more. Pion's buffer then stays under highWater plus one batch, and
// a peer that does not keep up backs up into this Queue, where the byte
// budget sees it. With a highWater above 0 the budget counts only while Run
// waits so (see the package doc): a backlog that built up while the writer
// merely had not run yet is not the peer's. A sink whose Write blocks
// instead (a websocket) has nothing to watch: pass 0, and the budget counts
// whatever the writer does.
//
// Each time it wakes, Run takes every queued message in one go and writes
// them back to back, so SCTP can pack several small messages in one packet
// and producers contend with the writer once per batch, not per message.
// With EnableBatching, what it took goes out as BatchMessages (batch.go).
//
// With a coalesce window (SetCoalesce), a writer under sustained traffic
// (it wrote within the last few windows) waits one window before taking the
// batch, so that more messages share each SCTP packet: fewer datagrams and
// less CPU per delivery, for up to one window more latency. An idle peer's
// first message leaves at once.
//
// Run is the queue's only consumer: call it from exactly one goroutine.
func (q *Queue) Run(ctx context.Context, sink Sink, highWater uint64, low <-chan struct{}) error {
	// ctx reaches Run through the queue's own wake channel (see Queue.wake).
	var stopped atomic.Bool
	stop := context.AfterFunc(ctx, func() {
		stopped.Store(true)
		q.signal()
	})
	defer stop()

	// batch is owned by this goroutine and reused: steady state allocates
	// nothing.
	var batch [][]byte
	var lastWrite time.Time
	var gather *time.Timer
	if q.coalesce > 0 {
		gather = time.NewTimer(q.coalesce)
		defer gather.Stop()
	}
	if highWater > 0 {
		q.gate(nil)
		defer q.ungate()
	}
	for {
		// Every wake-up, whatever its cause, comes back here first.
		if stopped.Load() || q.closed.Load() {
			return nil
		}
		if sink.Buffered() > highWater {
			q.hold()
			// A low signal may be stale, from an earlier crossing, and a
			// wake may be a Push: either way, look again.
			select {
			case <-low:
			case <-q.wake:
			}
			continue
		}

		if gather != nil && time.Since(lastWrite) < sustainedWindows*q.coalesce {
			gather.Reset(q.coalesce)
			select {
			case <-gather.C:
			case <-ctx.Done():
				return nil
			}
		}
		q.mu.Lock()
		plan := batchPlan{first: q.msgs - uint64(q.count), from: q.batchFrom, limit: q.batchLimit, framer: q.framer}
		batch = q.take(batch[:0])
		q.mu.Unlock()
		if len(batch) == 0 {
			<-q.wake
			continue
		}
		if gather != nil {
			lastWrite = time.Now()
		}
		if err := q.write(sink, batch, plan); err != nil {
			clear(batch)
			return err
		}
	}
}

// sustainedWindows: a writer that wrote within this many coalesce windows is
// under sustained traffic and waits to gather; one that has been quiet for
// longer sends at once.
const sustainedWindows = 5

// SetCoalesce sets the gathering window of Run (see there); 0, the default,
// writes as soon as messages are queued. Call it before Run.
func (q *Queue) SetCoalesce(d time.Duration) { q.coalesce = d }
