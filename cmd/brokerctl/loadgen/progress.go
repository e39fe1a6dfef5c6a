package loadgen

import (
	"context"
	"fmt"
	"time"
)

// progress writes one status line a second until ctx ends (see
// progressLine).
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
		sent := e.rawSent.Load()
		fmt.Fprint(e.cfg.Progress, e.progressLine(time.Since(start), sent-lastSent, e.rec.Now()), end)
		lastSent = sent
	}
}

// progressLine is the status at nowNs: clients connected, sent/s (given)
// and delivered/s over the last second, the window's deliveries in flight
// and its loss so far, and the last second's latency. Loss counts only
// deliveries that are due (sent more than cfg.Drain ago, the longest the
// final count waits for them): a delivery still on its way is in flight,
// not lost.
func (e *engine) progressLine(elapsed time.Duration, sentPerSec uint64, nowNs int64) string {
	iv := e.rec.Interval()
	o := e.rec.Outstanding(nowNs, e.cfg.Drain)
	return fmt.Sprintf("%5.0fs %-10s clients %d/%d  sent/s %d  delivered/s %d  in flight %d  loss %.2f%%  p50 %s  p99 %s",
		elapsed.Seconds(), e.phase.Load(), e.connected.Load(), e.cfg.Clients,
		sentPerSec, iv.Delivered, o.InFlight, o.LossPct(), fmtDuration(iv.P50), fmtDuration(iv.P99))
}
