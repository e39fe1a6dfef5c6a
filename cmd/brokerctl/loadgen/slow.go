package loadgen

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// The phases of a slow-consumer run, by a message's send time: before the
// slow clients stop reading, while their server still holds them, after it
// has cut the last of them.
const (
	phaseBefore = iota
	phaseWhile
	phaseAfter
	phases
)

// phaseRec is everyone else's latency by phase. The slow clients' own
// deliveries are left out of it (excluded), before they stop too, so the
// three figures are of the same receivers.
type phaseRec struct {
	stopAt, cutAt atomic.Int64 // ns since the epoch; MaxInt64 until known
	excluded      []bool       // by receiver; read-only once set
	shards        [recShards]struct {
		mu sync.Mutex
		h  [phases]*hdrhistogram.Histogram
	}
}

func newPhaseRec(receivers int, excluded []int) *phaseRec {
	p := &phaseRec{excluded: make([]bool, receivers)}
	for _, r := range excluded {
		p.excluded[r] = true
	}
	for i := range p.shards {
		for j := range p.shards[i].h {
			p.shards[i].h[j] = hdrhistogram.New(histMinUs, histMaxUs, histSigFigs)
		}
	}
	p.stopAt.Store(math.MaxInt64)
	p.cutAt.Store(math.MaxInt64)
	return p
}

func (p *phaseRec) record(receiver int, sentNs, latUs int64) {
	if p.excluded[receiver] {
		return
	}
	ph := phaseBefore
	switch {
	case sentNs >= p.cutAt.Load():
		ph = phaseAfter
	case sentNs >= p.stopAt.Load():
		ph = phaseWhile
	}
	sh := &p.shards[receiver%recShards]
	sh.mu.Lock()
	_ = sh.h[ph].RecordValue(latUs)
	sh.mu.Unlock()
}

func (p *phaseRec) latency(ph int) Latency {
	h := hdrhistogram.New(histMinUs, histMaxUs, histSigFigs)
	for i := range p.shards {
		sh := &p.shards[i]
		sh.mu.Lock()
		h.Merge(sh.h[ph])
		sh.mu.Unlock()
	}
	l := latencyOf(h)
	l.Distribution = nil
	return l
}

// SlowResult is what --slow measured: everyone else's latency before the
// slow clients stopped reading, while their server held them, and after it
// cut the last of them (by send time).
type SlowResult struct {
	Clients int `json:"clients"`
	// StoppedAtS and CutAtS are seconds into the window; CutAtS is absent
	// when the server had not cut them all by the end of the window.
	StoppedAtS float64  `json:"stopped_at_s"`
	CutAtS     *float64 `json:"cut_at_s,omitempty"`
	Cut        int      `json:"cut"`
	Before     Latency  `json:"before"`
	While      Latency  `json:"while"`
	After      Latency  `json:"after"`
}

// slowStart makes the phase recorder before any message is sent, with the
// last cfg.Slow slots as the slow ones.
func (e *engine) slowStart() {
	if e.cfg.Slow <= 0 {
		return
	}
	var excluded []int
	for i := len(e.slots) - e.cfg.Slow; i < len(e.slots); i++ {
		if m := e.slots[i].Load(); m != nil {
			excluded = append(excluded, m.r)
			e.slowMembers = append(e.slowMembers, m)
		}
	}
	e.rec.phases.Store(newPhaseRec(len(e.rec.spans), excluded))
}

// slowDown waits until stopNs, then has the slow clients leave the
// accounting and, cfg.Drain later, stop reading (see leave; the linger is
// bound by runCtx alone, so that what they are owed can arrive); once every
// one of them is down (the server cut it), the after phase starts. It
// returns when that happened or ctx ended.
func (e *engine) slowDown(ctx, runCtx context.Context, stopNs int64, wg *sync.WaitGroup) {
	ph := e.rec.phases.Load()
	if ph == nil || !e.sleepUntil(ctx, stopNs) {
		return
	}
	ph.stopAt.Store(e.rec.Now())
	e.phase.Store("slow")
	for _, m := range e.slowMembers {
		for i := range e.slots {
			if e.slots[i].Load() == m {
				e.leave(runCtx, i, m, wg, true)
			}
		}
	}
	for _, m := range e.slowMembers {
		select {
		case <-m.c.Done():
			e.slowCut.Add(1)
		case <-ctx.Done():
			return
		}
	}
	ph.cutAt.Store(e.rec.Now())
	e.phase.Store("after cut")
	for _, m := range e.slowMembers {
		m.unblock()
	}
}

// slowResult fills the report's Slow part.
func (e *engine) slowResult(from int64) *SlowResult {
	ph := e.rec.phases.Load()
	if ph == nil {
		return nil
	}
	res := &SlowResult{
		Clients: len(e.slowMembers), Cut: int(e.slowCut.Load()),
		Before: ph.latency(phaseBefore), While: ph.latency(phaseWhile), After: ph.latency(phaseAfter),
	}
	secs := func(ns int64) float64 { return time.Duration(ns - from).Seconds() }
	if at := ph.stopAt.Load(); at != math.MaxInt64 {
		res.StoppedAtS = secs(at)
	}
	if at := ph.cutAt.Load(); at != math.MaxInt64 {
		v := secs(at)
		res.CutAtS = &v
	}
	return res
}
