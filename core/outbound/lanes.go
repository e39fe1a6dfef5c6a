package outbound

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// Lanes drains several queues (a peer's reliable and unreliable channels)
// on one goroutine, each into its own sink with its own flow control, as
// Run does for one: a peer then costs one writer goroutine instead of one
// per channel (a goroutine is a stack, at least 2 KiB, kept for the peer's
// life even while it is idle).
//
// Every lane's queue, the owner's buffered-amount-low callbacks (Low) and
// the context signal one shared wake channel; each wake-up looks at every
// lane. A lane whose sink is above its high water is skipped until Low, so
// a reliable channel that backs up never holds up the unreliable one.
type Lanes struct {
	wake  chan struct{}
	lanes []lane
	// done is set when Run returns; Attach then leaves the queue's budget
	// as it is (Queue.gate).
	done atomic.Bool
}

type lane struct {
	q         *Queue
	sink      atomic.Pointer[Sink] // nil until Attach
	highWater atomic.Uint64
	lastWrite time.Time // owned by Run
	since     time.Time // owned by Run: when it found the lane non-empty while gathering
}

// NewLanes takes queues that nobody has pushed to or run yet (it gives them
// the shared wake channel); lane i is queues[i].
func NewLanes(queues ...*Queue) *Lanes {
	l := &Lanes{wake: make(chan struct{}, 1), lanes: make([]lane, len(queues))}
	for i, q := range queues {
		q.wake = l.wake
		l.lanes[i].q = q
	}
	return l
}

// Attach gives lane i its sink once the channel is open; until then what is
// pushed to its queue waits. highWater is as for Run, and so is what a high
// water above 0 does to the queue's byte budget. Safe to call while Run
// runs, once per lane.
func (l *Lanes) Attach(i int, sink Sink, highWater uint64) {
	ln := &l.lanes[i]
	if highWater > 0 {
		ln.q.gate(&l.done)
	}
	ln.highWater.Store(highWater)
	ln.sink.Store(&sink)
	l.Low()
}

// Low wakes Run to look at every lane again: call it, from any goroutine,
// when a sink's buffered amount has dropped (pion's OnBufferedAmountLow,
// whose threshold must be at or below the lane's high water). It never
// blocks.
func (l *Lanes) Low() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Run writes each lane's queued messages to its sink until ctx is done or
// any lane's queue is closed (it returns nil: both are deliberate stops) or
// a write fails (it returns that error, wrapped with the lane). Batching
// (EnableBatching) and coalescing (SetCoalesce) are each queue's, as with
// Run, and so is the wait: a lane under sustained traffic gathers for its
// own window from the moment the writer found it non-empty, while a lane
// without a window (a reliable channel whose window is 0) is written as soon
// as it has something, whatever the other lane is waiting for.
//
// Run is the queues' only consumer: call it from exactly one goroutine,
// and not Queue.Run on them.
func (l *Lanes) Run(ctx context.Context) error {
	var stopped atomic.Bool
	stop := context.AfterFunc(ctx, func() {
		stopped.Store(true)
		l.Low()
	})
	defer stop()
	defer func() {
		l.done.Store(true) // before ungate, so that a racing Attach sees it
		for i := range l.lanes {
			l.lanes[i].q.ungate()
		}
	}()

	// batch is owned by this goroutine and reused by every lane.
	var batch [][]byte
	var gather *time.Timer
	defer func() {
		if gather != nil {
			gather.Stop()
		}
	}()
	for {
		if stopped.Load() {
			return nil
		}
		for i := range l.lanes {
			if l.lanes[i].q.closed.Load() {
				return nil
			}
		}
		wrote := false
		var wait time.Duration // the soonest a gathering lane is due
		var now time.Time      // read once per pass, and only if some lane coalesces
		for i := range l.lanes {
			ln := &l.lanes[i]
			sp := ln.sink.Load()
			if sp == nil {
				continue // not open yet: Attach wakes us
			}
			if (*sp).Buffered() > ln.highWater.Load() {
				// Backed up: Low wakes us. Meanwhile the queue's
				// budget holds the peer to account.
				ln.q.hold()
				continue
			}
			q := ln.q
			if w := q.coalesce; w > 0 {
				if now.IsZero() {
					now = time.Now()
				}
				if d := ln.gathering(now, w); d > 0 {
					if wait == 0 || d < wait {
						wait = d
					}
					continue
				}
			}
			q.mu.Lock()
			plan := batchPlan{first: q.msgs - uint64(q.count), from: q.batchFrom, limit: q.batchLimit, framer: q.framer}
			batch = q.take(batch[:0])
			q.mu.Unlock()
			ln.since = time.Time{}
			if len(batch) == 0 {
				continue
			}
			if q.coalesce > 0 {
				ln.lastWrite = now
			}
			if err := q.write(*sp, batch, plan); err != nil {
				clear(batch)
				return fmt.Errorf("lane %d: %w", i, err)
			}
			wrote = true
		}
		switch {
		case wrote:
			// Look again at once: more may have come while writing.
		case wait > 0:
			if gather == nil {
				gather = time.NewTimer(wait)
			} else {
				gather.Reset(wait)
			}
			// A wake meanwhile (a lane without a window has something,
			// Low, Attach, a close) is looked at at once; the gathering
			// lane keeps its start and waits out the rest of its window.
			select {
			case <-gather.C:
			case <-l.wake:
				gather.Stop() // Go 1.23 timers: no stale tick after Stop or Reset
			}
		default:
			// Every wake-up, whatever its cause, comes back to look at
			// every lane: a Push to an empty queue, Attach, Low, a close.
			<-l.wake
		}
	}
}

// gathering returns how much longer lane ln, with coalesce window w, waits
// before its queue is taken (0: take it now). A lane waits only under
// sustained traffic (it wrote within its last few windows) and only once
// something is queued: it then gathers for one window from the moment the
// writer first found it non-empty. An idle lane's first message leaves at
// once.
func (ln *lane) gathering(now time.Time, w time.Duration) time.Duration {
	if now.Sub(ln.lastWrite) >= sustainedWindows*w {
		return 0
	}
	if n, _ := ln.q.Len(); n == 0 {
		ln.since = time.Time{}
		return 0
	}
	if ln.since.IsZero() {
		ln.since = now
	}
	return w - now.Sub(ln.since)
}
