package loadgen

import (
	"context"
	"fmt"
	"time"
)

// progress writes one status line a second until ctx ends: clients connected,
// sent/s and delivered/s over the last second, loss so far in the window, and
// the last second's latency.
func (e *engine) progress(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	start := time.Now()
	var lastSent uint64
	end := "\n"
	if e.cfg.ProgressInPlace {
		end = "\x1b[K\r"
	}
	for {
		select {
		case <-ctx.Done():
			if e.cfg.ProgressInPlace {
				fmt.Fprint(e.cfg.Progress, "\n")
			}
			return
		case <-t.C:
		}
		iv := e.rec.Interval()
		sent := e.rawSent.Load()
		c := e.rec.Counts()
		fmt.Fprintf(e.cfg.Progress, "%5.0fs %-10s clients %d/%d  sent/s %d  delivered/s %d  loss %.2f%%  p50 %s  p99 %s%s",
			time.Since(start).Seconds(), e.phase.Load(), e.connected.Load(), e.cfg.Clients,
			sent-lastSent, iv.Delivered, c.LossPct(), fmtDuration(iv.P50), fmtDuration(iv.P99), end)
		lastSent = sent
	}
}
