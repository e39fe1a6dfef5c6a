package luahost

import (
	"context"
	rtmetrics "runtime/metrics"
	"sync/atomic"
	"time"
)

// memWatch notices, from outside the Lua VM, that the process allocated a
// lot: it bumps epoch whenever the process's cumulative allocation grew by
// memCheckEvery since the last bump. A state whose last measurement is
// older than the current epoch measures itself again at its next
// instruction, which catches what the per-instruction estimate cannot see
// (a `..` that doubles a string is one instruction).
type memWatch struct {
	epoch atomic.Uint64
}

// memSamplePeriod is how often the watch reads the allocation counter; it
// bounds how long growth the estimate misses goes unmeasured.
const memSamplePeriod = time.Millisecond

func (w *memWatch) run(ctx context.Context) {
	t := time.NewTicker(memSamplePeriod)
	defer t.Stop()
	s := []rtmetrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	rtmetrics.Read(s)
	last := s[0].Value.Uint64()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rtmetrics.Read(s)
		if now := s[0].Value.Uint64(); now-last >= memCheckEvery {
			last = now
			w.epoch.Add(1)
		}
	}
}

// allocatedBytes is the process's cumulative heap allocation: it only
// grows, whatever the collector frees.
func allocatedBytes() uint64 {
	s := []rtmetrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	rtmetrics.Read(s)
	return s[0].Value.Uint64()
}
