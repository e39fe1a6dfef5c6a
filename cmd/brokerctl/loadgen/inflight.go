package loadgen

import (
	"sync/atomic"
	"time"
)

// slotNs is the send-time granularity at which the recorder tells messages
// in flight from lost ones while a run goes on; a window longer than
// maxSlots of them gets wider slots.
const (
	slotNs   = int64(100 * time.Millisecond)
	maxSlots = 4096
)

// slotTable counts, per slot (slotNs or wider) of send time in the window, the deliveries
// expected and those received, so that a live figure can leave out the
// messages too recent to have arrived yet. The totals (Counts) do not need
// them: they are read after the drain, when every message is due.
type slotTable struct {
	from  int64 // the window's start, ns since the epoch
	width int64 // ns of send time per slot
	s     []slot
}

type slot struct{ expected, delivered atomic.Uint64 }

func newSlots(from, to int64) *slotTable {
	span := max(to-from, 0)
	width := max(slotNs, span/maxSlots+1)
	return &slotTable{from: from, width: width, s: make([]slot, span/width+1)}
}

// at returns the slot of a message stamped sentNs, nil outside the window.
func (t *slotTable) at(sentNs int64) *slot {
	if t == nil || sentNs < t.from {
		return nil
	}
	if i := (sentNs - t.from) / t.width; i < int64(len(t.s)) {
		return &t.s[i]
	}
	return nil
}

// Outstanding are the window's expected deliveries so far by whether they
// are due: Due counts those of messages sent long enough ago to have
// arrived, Lost those of them that have not, InFlight the deliveries not
// yet arrived of messages more recent than that.
type Outstanding struct {
	Due, Lost, InFlight uint64
}

// LossPct is the share of due deliveries that did not arrive, in percent.
func (o Outstanding) LossPct() float64 {
	if o.Due == 0 {
		return 0
	}
	return 100 * float64(o.Lost) / float64(o.Due)
}

// Outstanding splits what has not arrived at nowNs: deliveries of a message
// sent due or more before nowNs are lost (the final count gives them no
// longer either: the drain waits at most as long), more recent ones in
// flight. A message counts as due when its whole slot is.
func (r *Recorder) Outstanding(nowNs int64, due time.Duration) Outstanding {
	var o Outstanding
	t := r.slots.Load()
	if t == nil {
		return o
	}
	for i := range t.s {
		sl := &t.s[i]
		exp, got := sl.expected.Load(), sl.delivered.Load()
		missing := exp - min(got, exp)
		if end := t.from + int64(i+1)*t.width; end+int64(due) <= nowNs {
			o.Due += exp
			o.Lost += missing
		} else {
			o.InFlight += missing
		}
	}
	return o
}
